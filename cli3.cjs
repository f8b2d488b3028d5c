const https = require('node:https'); const fs = require('node:fs');
https.globalAgent.options.ca = [fs.readFileSync('/tmp/research-auth0/tls-probe/cert.pem')];
const { Issuer } = require('/tmp/research-auth0/spa/node_modules/express-openid-connect/node_modules/openid-client') ;
(async () => {
  try { const i = await Issuer.discover('https://localhost:'); console.log('openid-client3 ok', i.issuer); } catch (e) { console.log('openid-client3 ERR', e.code || e.message); }
})();
