// Sign-in through the stage's Cognito managed login: authorization code +
// PKCE, handled by oidc-client-ts (no hand-written OAuth, crypto or JWT code).
// Tokens live in sessionStorage: closing the tab signs the person out.
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

/**
 * @param {{authority: string, clientId: string, logoutEndpoint: string}} config
 *   authority: https://cognito-idp.<region>.amazonaws.com/<user pool id>;
 *   logoutEndpoint: https://<domain>/logout (Cognito has no end_session_endpoint
 *   in its discovery document)
 */
export function createAuth(config) {
  const home = new URL("./", window.location.href).href;
  const manager = new UserManager({
    authority: config.authority,
    client_id: config.clientId,
    redirect_uri: home,
    post_logout_redirect_uri: home,
    response_type: "code",
    scope: "openid email",
    loadUserInfo: false,
    automaticSilentRenew: false,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });

  return {
    /** Finish a sign-in redirect if this page load is one; resolve to the user or null. */
    async init() {
      const params = new URLSearchParams(window.location.search);
      if (params.has("error")) {
        window.history.replaceState(null, "", home);
        throw new Error(params.get("error_description") || params.get("error"));
      }
      if (params.has("code") && params.has("state")) {
        const user = await manager.signinRedirectCallback();
        window.history.replaceState(null, "", home);
        return user;
      }
      const user = await manager.getUser();
      return user && !user.expired ? user : (user ? await this.refresh() : null);
    },
    signIn: () => manager.signinRedirect(),
    async signOut() {
      await manager.removeUser();
      const url = new URL(config.logoutEndpoint);
      url.searchParams.set("client_id", config.clientId);
      url.searchParams.set("logout_uri", home);
      window.location.assign(url.href);
    },
    /** A fresh user from the refresh token, or null when the session is over. */
    async refresh() {
      try {
        return await manager.signinSilent();
      } catch {
        await manager.removeUser();
        return null;
      }
    },
    /** The current ID token, refreshed when expired; null when signed out. */
    async idToken() {
      let user = await manager.getUser();
      if (user && user.expired) user = await this.refresh();
      return user ? user.id_token : null;
    },
  };
}
