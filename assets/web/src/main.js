// The quick-test page: sign in, take or choose a photo, see what the model sees.
import { createApi, ApiProblem } from "./api.js";
import { createAuth } from "./auth.js";
import { createFeedback } from "./feedback.js";
import { emotion, formatBytes, initialLanguage, setLanguage, t } from "./i18n.js";
import { ImageRejected, prepareImage } from "./image.js";

const $ = (id) => document.getElementById(id);
const MAX_AUTOMATIC_RETRIES = 30; // about 30 min of a starting model at 60 s each
const MODEL_POLL_MS = 30_000; // how often GET /v1/models is asked while an answer is provisional
const MAX_MODEL_POLLS = 80; // 40 minutes: past the longest start AWS documents

const state = {
  config: null,
  auth: null,
  api: null,
  photo: null, // the person's original file: kept until they choose another
  prepared: null, // {blob, width, height, ...} of the photo as sent
  s3Key: null, // the upload of `prepared`, reused when only the mode changes
  result: null, // {mode, body} of the last answer
  timer: null, // countdown of an automatic retry
  retries: 0,
  attempt: 0, // calls made for the current upload: 1 is the request, more are its retries
  askedFor: null, // the upload those calls were for
  pending: false, // a request waits for the network to come back
  lastProblem: null,
  feedback: null, // "Is this right?" and the review queue (feedback.js)
  modelPoll: null, // timer asking GET /v1/models while the answer shown is provisional
  models: null, // the last GET /v1/models answer (the status line)
};

function show(id, visible) {
  $(id).hidden = !visible;
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function threshold() {
  return Number($("threshold").value);
}

function setStatus(text) {
  $("status").textContent = text;
}

function clearProblem() {
  clearInterval(state.timer);
  state.timer = null;
  state.lastProblem = null;
  show("problem", false);
  for (const id of ["retry", "cancel", "sign-in-again"]) show(id, false);
}

function showProblem(text, { retry = false, cancel = false, signIn = false } = {}) {
  $("problem-text").textContent = text;
  show("retry", retry);
  show("cancel", cancel);
  show("sign-in-again", signIn);
  show("problem", true);
  setStatus("");
}

function countdown(key, seconds) {
  let left = seconds;
  showProblem(t(key, { seconds: left }), { cancel: true });
  state.timer = setInterval(() => {
    left -= 1;
    if (left <= 0) {
      clearInterval(state.timer);
      state.timer = null;
      run({ automatic: true });
      return;
    }
    $("problem-text").textContent = t(key, { seconds: left });
  }, 1000);
}

function rejectionReason(problem) {
  if (problem instanceof ImageRejected) return t(`reject_${problem.code}`, problem.details);
  return t("reject_server", { message: problem.message });
}

function handleProblem(problem) {
  state.lastProblem = problem;
  if (problem instanceof ImageRejected) {
    showProblem(t("rejected", { reason: rejectionReason(problem) }));
    return;
  }
  if (!(problem instanceof ApiProblem)) {
    console.error(problem);
    showProblem(t("server", { code: String(problem.message || problem) }), { retry: true });
    return;
  }
  const automatic = state.retries < MAX_AUTOMATIC_RETRIES;
  switch (problem.kind) {
    case "starting":
    case "not_running":
    case "throttled":
    case "busy":
      if (automatic) {
        state.retries += 1;
        const key = { starting: "starting", not_running: "notRunning", throttled: "throttled", busy: "busy" }[problem.kind];
        countdown(key, problem.retryAfter);
      } else {
        showProblem(t("server", { code: problem.code }), { retry: true });
      }
      return;
    case "no_model":
      showProblem(t("noModel"), { retry: true });
      return;
    case "unauthenticated":
      showProblem(t("sessionExpired"), { signIn: true });
      return;
    case "network":
      state.pending = true;
      showProblem(t("network"), { retry: true });
      return;
    case "upload_failed":
      state.s3Key = null;
      showProblem(t("uploadFailed", { status: problem.status }), { retry: true });
      return;
    case "rejected":
      showProblem(t("rejected", { reason: rejectionReason(problem) }));
      return;
    default:
      showProblem(t("server", { code: problem.code }), { retry: true });
  }
}

function renderPreview() {
  const prepared = state.prepared;
  const img = $("photo");
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(prepared.blob);
  img.src = img.dataset.url;
  img.alt = t("photoAlt");
  $("sent").textContent = t("sent", {
    width: prepared.width,
    height: prepared.height,
    size: formatBytes(prepared.blob.size),
    originalWidth: prepared.originalWidth,
    originalHeight: prepared.originalHeight,
  });
  $("preview").dataset.width = prepared.width;
  $("preview").dataset.height = prepared.height;
  $("preview").dataset.bytes = prepared.blob.size;
  show("preview", true);
}

function percent(value) {
  return Number(value).toFixed(1);
}

function addBox(box, text, kind) {
  if (!box) return;
  const element = document.createElement("div");
  element.className = `box ${kind}`;
  element.style.left = `${box.left * 100}%`;
  element.style.top = `${box.top * 100}%`;
  element.style.width = `${box.width * 100}%`;
  element.style.height = `${box.height * 100}%`;
  element.setAttribute("role", "img");
  element.setAttribute("aria-label", text);
  const caption = document.createElement("span");
  caption.textContent = text;
  element.append(caption);
  $("boxes").append(element);
}

function bar(name, value) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.className = "name";
  label.textContent = name;
  const meter = document.createElement("progress");
  meter.max = 100;
  meter.value = value;
  meter.setAttribute("aria-label", name);
  const figure = document.createElement("span");
  figure.className = "value";
  figure.textContent = `${percent(value)}%`;
  item.append(label, meter, figure);
  return item;
}

function provisionalText(body) {
  if (body.model_status === "STARTING") return t("provisional", { minutes: body.ready_in_minutes ?? "?" });
  if (body.start_reason === "daily_cap") return t("provisionalCapped");
  if (body.start_reason === "sustained_demand") return t("provisionalSustained");
  return t("provisionalStopped");
}

function renderNeighbours(neighbours) {
  const list = $("neighbour-list");
  list.replaceChildren();
  for (const neighbour of neighbours ?? []) {
    const item = document.createElement("li");
    const img = document.createElement("img");
    img.src = neighbour.thumbnail_url; // presigned for 5 minutes: shown now, never stored
    img.alt = t("neighbourAlt", { label: neighbour.label, similarity: Number(neighbour.similarity).toFixed(2) });
    img.loading = "lazy";
    img.decoding = "async";
    const caption = document.createElement("span");
    caption.textContent = neighbour.label;
    item.append(img, caption);
    list.append(item);
  }
  show("neighbours", list.children.length > 0);
}

function renderLabels(body) {
  const provisional = body.source === "provisional";
  $("provisional").textContent = provisional ? provisionalText(body) : "";
  show("provisional", provisional);
  $("results").dataset.source = body.source ?? "model";
  if (provisional) renderNeighbours(body.neighbours);
  const list = $("result-list");
  const shown = body.labels.filter((label) => label.confidence >= threshold());
  for (const label of shown) {
    list.append(bar(label.name, label.confidence));
    addBox(label.bounding_box, t("box", { name: label.name, confidence: percent(label.confidence) }), "label");
  }
  const hiddenCount = body.labels.length - shown.length;
  $("hidden-count").textContent = hiddenCount > 0 ? t("belowThreshold", { count: hiddenCount }) : "";
  if (shown.length === 0) $("results-note").textContent = t("noLabels", { threshold: threshold() });
}

function faceText(face) {
  if (face.status === "matched") {
    return t("personMatch", { person: face.person.name, similarity: percent(face.person.similarity) });
  }
  if (face.status === "unknown") return t("unknownFace");
  return t(`faceNotSearched_${face.reason}`);
}

function renderSearch(body) {
  if (body.faces.length === 0) {
    $("result-list").append(Object.assign(document.createElement("li"), { textContent: t("noFace") }));
    return;
  }
  $("results-note").textContent = t("facesNote", { found: body.faces_found, searched: body.faces_searched });
  body.faces.forEach((face, index) => {
    const text = faceText(face);
    const kind = face.status === "matched" ? "face" : "face unknown";
    addBox(face.bounding_box, text, kind);
    const item = document.createElement("li");
    item.className = `person ${face.status}`;
    item.dataset.status = face.status;
    item.textContent = `${t("faceN", { n: index + 1 })}: ${text}`;
    $("result-list").append(item);
  });
}

function renderAnalysis(body) {
  if (body.faces.length === 0) {
    $("result-list").append(Object.assign(document.createElement("li"), { textContent: t("noFace") }));
    return;
  }
  body.faces.forEach((face, index) => {
    const title = t("faceN", { n: index + 1 });
    const item = document.createElement("li");
    item.className = "face";
    const heading = document.createElement("h3");
    heading.textContent = title;
    const facts = document.createElement("p");
    const parts = [];
    if (face.age_range) parts.push(t("age", face.age_range));
    if (face.smile) parts.push(t("smile"));
    if (face.eyeglasses) parts.push(t("eyeglasses"));
    facts.textContent = parts.join(" · ");
    const emotions = document.createElement("ol");
    emotions.className = "results";
    emotions.setAttribute("aria-label", t("emotions"));
    for (const e of [...(face.emotions ?? [])].sort((a, b) => b.confidence - a.confidence).slice(0, 3)) {
      emotions.append(bar(emotion(e.type), e.confidence));
    }
    item.append(heading, facts, emotions);
    $("result-list").append(item);
    const age = face.age_range ? `, ${t("age", face.age_range)}` : "";
    addBox(face.bounding_box, `${title}${age}`, "face");
  });
}

const FORMAT_NAMES = {
  qr_code: "QR Code",
  micro_qr_code: "Micro QR Code",
  rmqr_code: "rMQR Code",
  data_matrix: "Data Matrix",
  aztec: "Aztec",
  pdf417: "PDF417",
  ean_13: "EAN-13",
  ean_8: "EAN-8",
  upc_a: "UPC-A",
  upc_e: "UPC-E",
  code_128: "Code 128",
  code_39: "Code 39",
  code_93: "Code 93",
  codabar: "Codabar",
  itf: "ITF",
  databar: "DataBar",
};

function formatName(format) {
  return format === "text" ? t("codeFormat_text") : (FORMAT_NAMES[format] ?? format);
}

function renderCodes(body) {
  $("results-note").textContent = body.text_search === "failed" ? t("textSearchFailed") : t("codesNote");
  if (body.codes.length === 0) {
    $("result-list").append(Object.assign(document.createElement("li"), { textContent: t("noCodes") }));
    return;
  }
  for (const code of body.codes) {
    const item = document.createElement("li");
    item.className = "code";
    const heading = document.createElement("h3");
    heading.textContent = formatName(code.format) + (code.source === "text" ? ` (${t("codeFromText")})` : "");
    const text = document.createElement("p");
    text.className = "code-text";
    text.textContent = code.text; // shown as text, never followed: a code can hold any URL
    item.append(heading, text);
    if (code.isbn) {
      const isbn = document.createElement("p");
      isbn.className = "isbn";
      isbn.textContent = code.isbn.isbn10 ? t("isbnBoth", code.isbn) : t("isbnOnly13", code.isbn);
      item.append(isbn);
    }
    $("result-list").append(item);
    addBox(code.bounding_box, formatName(code.format), "code");
  }
}

function renderResult() {
  $("result-list").replaceChildren();
  $("boxes").replaceChildren();
  $("results-note").textContent = "";
  $("hidden-count").textContent = "";
  show("provisional", false);
  show("neighbours", false);
  delete $("results").dataset.source;
  const result = state.result;
  if (!result) {
    show("results", false);
    return;
  }
  ({ labels: renderLabels, search: renderSearch, analyze: renderAnalysis, codes: renderCodes })[result.mode](result.body);
  $("results").dataset.mode = result.mode;
  show("results", true);
}

/** Prepare (once per photo), upload (once per photo) and ask the API in the chosen mode. */
async function run({ automatic = false } = {}) {
  if (!state.photo) return;
  if (!automatic) state.retries = 0;
  clearProblem();
  state.pending = false;
  const currentMode = mode();
  try {
    if (!state.prepared) {
      setStatus(t("preparing"));
      state.prepared = await prepareImage(state.photo, currentMode);
      renderPreview();
    }
    if (!state.s3Key) {
      setStatus(t("uploading"));
      state.s3Key = await state.api.upload(state.prepared.blob);
    }
    setStatus(t("asking"));
    const call = {
      labels: state.api.labels,
      search: state.api.searchFaces,
      analyze: state.api.analyzeFaces,
      codes: state.api.codes,
    }[currentMode];
    state.attempt = state.s3Key === state.askedFor ? state.attempt + 1 : 1;
    state.askedFor = state.s3Key;
    const body = await call(state.s3Key, state.attempt);
    state.retries = 0;
    state.result = { mode: currentMode, body };
    renderResult();
    state.feedback.show(
      currentMode === "labels" ? { s3Key: state.s3Key, body, photoUrl: $("photo").dataset.url } : null,
    );
    setStatus(t("done"));
    stopModelPoll();
    if (currentMode === "labels" && body.source === "provisional") startModelPoll(state.s3Key);
    if (currentMode === "labels") refreshModelStatus();
  } catch (problem) {
    state.result = null;
    renderResult();
    state.feedback?.show(null);
    handleProblem(problem);
  }
}

function stopModelPoll() {
  clearInterval(state.modelPoll?.timer);
  state.modelPoll = null;
}

/** While a provisional answer is shown, ask GET /v1/models; once the active version is
 * RUNNING, ask the model itself about the same upload (its next attempt). */
function startModelPoll(s3Key) {
  const poll = { s3Key, count: 0, timer: null };
  poll.timer = setInterval(async () => {
    poll.count += 1;
    if (state.modelPoll !== poll || state.s3Key !== s3Key || mode() !== "labels" || poll.count > MAX_MODEL_POLLS) {
      if (state.modelPoll === poll) stopModelPoll();
      return;
    }
    const models = await refreshModelStatus();
    const active = models?.versions?.find((v) => v.active);
    if (state.modelPoll === poll && active?.status === "RUNNING") {
      stopModelPoll();
      setStatus(t("provisionalReask"));
      run({ automatic: true });
    }
  }, MODEL_POLL_MS);
  state.modelPoll = poll;
}

function renderModelStatus() {
  const models = state.models;
  const active = models?.versions?.find((v) => v.active);
  if (!active) {
    show("model-status", false);
    return;
  }
  const usage = models.usage;
  $("model-status").textContent = usage
    ? t("modelStatus", {
        version: active.model_version,
        status: active.status,
        today: usage.today_unit_hours.toFixed(2),
        todayUsd: usage.today_usd.toFixed(2),
        month: usage.month_unit_hours.toFixed(2),
        monthUsd: usage.month_usd.toFixed(2),
      })
    : t("modelStatusNoUsage", { version: active.model_version, status: active.status });
  $("model-status").dataset.status = active.status;
  show("model-status", true);
}

/** GET /v1/models for the status line; a failure leaves the line as it was. */
async function refreshModelStatus() {
  try {
    state.models = await state.api.models();
  } catch {
    return null;
  }
  renderModelStatus();
  return state.models;
}

function choosePhoto(event) {
  const [file] = event.target.files;
  event.target.value = "";
  if (!file) return;
  state.photo = file;
  state.prepared = null;
  state.s3Key = null;
  state.result = null;
  stopModelPoll();
  state.feedback?.show(null);
  run();
}

function wire() {
  $("language").addEventListener("change", (event) => {
    setLanguage(event.target.value);
    if (state.prepared) renderPreview();
    renderResult();
    renderModelStatus();
    state.feedback?.rerender();
    if (state.lastProblem && !state.timer) handleProblem(state.lastProblem);
  });
  $("sign-in").addEventListener("click", () => state.auth.signIn());
  $("sign-in-again").addEventListener("click", () => state.auth.signIn());
  $("sign-out").addEventListener("click", () => state.auth.signOut());
  $("camera").addEventListener("change", choosePhoto);
  $("file").addEventListener("change", choosePhoto);
  $("retry").addEventListener("click", () => run());
  $("cancel").addEventListener("click", () => {
    clearProblem();
    setStatus("");
  });
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      show("threshold-row", mode() === "labels");
      if (state.photo) {
        // The face APIs need 80 px where labels need 64: re-check a small photo.
        if (state.prepared && Math.min(state.prepared.width, state.prepared.height) < 80) state.prepared = null;
        run();
      }
    });
  }
  $("threshold").addEventListener("input", () => {
    $("threshold-value").textContent = `${threshold()}%`;
    if (state.result?.mode === "labels") renderResult();
  });
  const network = () => {
    show("network-banner", !navigator.onLine);
    if (navigator.onLine && state.pending) run();
  };
  window.addEventListener("online", network);
  window.addEventListener("offline", network);
  network();
}

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const config = await response.json();
  for (const key of ["apiBase", "authority", "clientId", "logoutEndpoint"]) {
    if (typeof config[key] !== "string" || !config[key]) throw new Error(`"${key}" is missing`);
  }
  return config;
}

async function start() {
  const chosen = initialLanguage();
  $("language").value = chosen;
  setLanguage(chosen);
  wire();
  try {
    state.config = await loadConfig();
  } catch (error) {
    show("loading", false);
    showProblem(t("configMissing", { message: error.message }));
    show("signed-in", true);
    return;
  }
  if (state.config.stage) {
    $("stage").textContent = state.config.stage;
    show("stage", true);
  }
  show("offline-banner", Boolean(state.config.offline));
  state.auth = createAuth(state.config);
  state.api = createApi(state.config, async () => {
    const token = await state.auth.idToken();
    if (!token) throw new ApiProblem("unauthenticated");
    return token;
  });
  state.feedback = createFeedback({ api: state.api, detection: state.config.projectType === "object_detection" });
  let user = null;
  try {
    user = await state.auth.init();
  } catch (error) {
    $("signed-out").querySelector("p").textContent = t("signInFailed", { message: error.message });
  }
  show("loading", false);
  if (!user) {
    show("signed-out", true);
    return;
  }
  $("user-name").textContent = user.profile.email ?? user.profile["cognito:username"] ?? user.profile.sub;
  show("signed-in", true);
  refreshModelStatus();
  await state.feedback.start(user);
}

document.documentElement.dataset.ready = "loading";
start().finally(() => {
  document.documentElement.dataset.ready = "true";
});
