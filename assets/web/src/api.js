// Calls to the inference API (docs/openapi.json) and the presigned upload.
// Every failure becomes an ApiProblem whose kind the page turns into a state
// a person understands.

/**
 * kind: "network" | "unauthenticated" | "starting" | "not_running" |
 * "throttled" | "busy" | "no_model" | "rejected" | "upload_failed" | "server".
 */
export class ApiProblem extends Error {
  constructor(kind, { status = 0, code = "", message = "", field = null, retryAfter = null } = {}) {
    super(message || kind);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

const REJECTED_CODES = new Set([
  "image_too_large",
  "payload_too_large",
  "unsupported_format",
  "image_too_small",
  "image_dimensions",
  "image_aspect_ratio",
  "invalid_image",
]);

function retryAfterSeconds(response, fallback) {
  const value = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

function classify(response, error) {
  const details = { status: response.status, code: error.code ?? "", message: error.message ?? "", field: error.field ?? null };
  switch (response.status) {
    case 401:
      return new ApiProblem("unauthenticated", details);
    case 409:
      return new ApiProblem(details.code === "no_active_model" ? "no_model" : "server", details);
    case 429:
      return new ApiProblem("throttled", { ...details, retryAfter: retryAfterSeconds(response, 5) });
    case 503:
      // upstream_unavailable: AWS did not answer in time (not the model's state).
      return new ApiProblem({ model_starting: "starting", upstream_unavailable: "busy" }[details.code] ?? "not_running", {
        ...details,
        retryAfter: retryAfterSeconds(response, 60),
      });
    default:
      if (response.status >= 400 && response.status < 500 && REJECTED_CODES.has(details.code)) {
        return new ApiProblem("rejected", details);
      }
      return new ApiProblem("server", { ...details, code: details.code || `HTTP ${response.status}` });
  }
}

/**
 * @param {{apiBase: string}} config
 * @param {() => Promise<string>} idToken resolves to the Cognito ID token
 *   (throws ApiProblem("unauthenticated") when there is none)
 */
export function createApi(config, idToken) {
  async function call(method, path, body) {
    const token = await idToken();
    let response;
    try {
      response = await fetch(`${config.apiBase}${path}`, {
        method,
        headers: { Authorization: token, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (cause) {
      throw new ApiProblem("network", { message: String(cause) });
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (response.ok && payload) return payload;
    throw classify(response, payload?.error ?? {});
  }

  return {
    /** Upload a JPEG through a presigned PUT; resolves to its s3_key. */
    async upload(blob) {
      const ticket = await call("POST", "/uploads", { content_type: "image/jpeg", content_length: blob.size });
      let response;
      try {
        // Content-Length is set by the browser from the body; it is signed.
        response = await fetch(ticket.url, {
          method: ticket.method,
          headers: { "Content-Type": ticket.headers["Content-Type"] },
          body: blob,
        });
      } catch (cause) {
        throw new ApiProblem("network", { message: String(cause) });
      }
      if (!response.ok) throw new ApiProblem("upload_failed", { status: response.status });
      return ticket.s3_key;
    },
    models: () => call("GET", "/models"),
    feedback: (body) => call("POST", "/feedback", body),
    reviewQueue: () => call("GET", "/review"),
    review: (body) => call("POST", "/review", body),
    // attempt: 1 for a new photo, 2, 3... for its retries (the cost guard counts demand once).
    labels: (s3Key, attempt = 1) =>
      call("POST", "/labels", { image: { s3_key: s3Key }, min_confidence: 0, max_results: 50, attempt }),
    searchFaces: (s3Key) => call("POST", "/faces/search", { image: { s3_key: s3Key } }),
    analyzeFaces: (s3Key) => call("POST", "/faces/analyze", { image: { s3_key: s3Key } }),
    codes: (s3Key) => call("POST", "/codes", { image: { s3_key: s3Key } }),
  };
}
