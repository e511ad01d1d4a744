<?php
/*
 * Test-only must-use plugin for a WordPress that runs on loopback (tests/wprus, docs/wordpress.md).
 * WordPress refuses server-side requests to loopback addresses, to ports other than
 * 80/443/8080 and to names that gethostbyname() cannot resolve (*.localhost); the peers of
 * the tests are all of those. This lets WordPress's own HTTP client (which resolves
 * *.localhost itself) reach them. A real network with real host names does not need it.
 */
add_filter( 'http_request_args', function ( $args ) {
	$args['reject_unsafe_urls'] = false;
	return $args;
}, 10, 1 );
