'use strict';

// greet answers a request URL with a greeting.
function greet(url) {
  const name = new URL(url, 'http://localhost').searchParams.get('name') || 'world';
  return `hello, ${name}\n`;
}

module.exports = { greet };
