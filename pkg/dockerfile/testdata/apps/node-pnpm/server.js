'use strict';

const http = require('node:http');
const { greet } = require('./greet');

const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(greet(req.url));
});
server.listen(port);
process.on('SIGTERM', () => server.close());
