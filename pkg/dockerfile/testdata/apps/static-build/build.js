'use strict';

// Renders src/index.html into dist/.
const fs = require('node:fs');

fs.mkdirSync('dist', { recursive: true });
const page = fs.readFileSync('src/index.html', 'utf8');
fs.writeFileSync('dist/index.html', page.replace('{{title}}', 'hello'));
