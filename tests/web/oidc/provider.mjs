// A real OpenID provider for the sign-in tests: the `oidc-provider` package (npm), on loopback.
// node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Accounts: the login name is the account; a name in ACCOUNTS gets those claims, any other name an address
// outside the directory. The development login form accepts any password. Consent is granted up front (a
// company's own provider does not ask its staff to consent to its own apps).
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const ACCOUNTS = {
  alice: { email: "alice@example.com", email_verified: true, name: "Alice Ng" },
  dave: { email: "DAVE@example.com", email_verified: true, name: "Dave Okafor" },
  unverified: { email: "erin@example.com", email_verified: false, name: "Not Erin" },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
    response_types: ["code"], grant_types: ["authorization_code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  conformIdTokenClaims: false,
  cookies: { keys: ["ledgerflow-test-cookie-key"] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const claims = ACCOUNTS[id] ?? { email: `${id}@elsewhere.example`, email_verified: true, name: id };
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile");
    await grant.save();
    return grant;
  },
});
provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
