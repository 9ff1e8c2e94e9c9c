// "Is this right?" after a labels answer (POST /v1/feedback), and the review queue
// reviewers see (GET/POST /v1/review). Both in the page's language; both re-render
// when it changes.
import { ApiProblem } from "./api.js";
import { createBoxEditor } from "./boxes.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const SHOWN_CHOICES = 5;
// Same rule as the API (inference_api.feedback.LABEL_PATTERN): labels are folder names.
const LABEL = /^[\p{L}\p{N}][\p{L}\p{N}_ .-]{0,99}$/u;
export const REVIEWERS_GROUP = "reviewers";

export function validLabel(text) {
  const label = text.trim();
  return LABEL.test(label) && !label.endsWith(".") ? label : null;
}

function percent(value) {
  return Number(value).toFixed(1);
}

function problemText(problem) {
  if (!(problem instanceof ApiProblem)) return t("server", { code: String(problem.message || problem) });
  if (problem.code === "invalid_label" || problem.code === "unknown_label") return t("invalidLabel");
  if (problem.code === "upload_not_found") return t("feedbackExpired");
  if (problem.code === "not_reviewer") return t("notReviewer");
  if (problem.code === "already_reviewed") return t("reviewTaken");
  if (problem.kind === "unauthenticated") return t("sessionExpired");
  if (problem.kind === "network") return t("network");
  return t("server", { code: problem.code || problem.kind });
}

/**
 * @param {{api: object, detection?: boolean}} deps the API client of api.js; detection:
 *   the stage's project finds objects (people correct the boxes)
 */
export function createFeedback({ api, detection = false }) {
  const state = {
    known: [], // labels of the promoted version (GET /v1/models)
    answer: null, // {s3Key, body} of the labels answer the form is about
    sent: null, // the label sent, once accepted
    sending: false,
    items: null, // review queue items, once loaded
    reviewStatus: {}, // feedback_id -> text key and params of its last action
    queueProblem: null,
  };

  function setKnown(labels) {
    state.known = [...labels].sort();
    $("known-labels").replaceChildren(
      ...state.known.map((label) => Object.assign(document.createElement("option"), { value: label })),
    );
  }

  const editor = createBoxEditor($("box-frame"), $("box-list"), {
    labels: () => [...new Set([...state.known, ...(state.answer?.body.labels ?? []).map((l) => l.name)])],
    onChange: () => refreshForm(),
  });

  function chosen() {
    const picked = document.querySelector('input[name="feedback-choice"]:checked');
    if (!picked) return detection ? (editor.boxes()[0]?.label ?? null) : null;
    return picked.value ? picked.value : validLabel($("other-label").value);
  }

  function refreshForm() {
    const other = $("choice-other").checked;
    $("other-row").hidden = !other;
    const label = chosen();
    const typed = $("other-label").value.trim();
    let hint = "";
    if (other && typed && !label) hint = t("invalidLabel");
    else if (other && label && !state.known.includes(label)) hint = t("newLabelHint", { label });
    $("other-hint").textContent = hint;
    $("send-feedback").disabled = !label || state.sending || state.sent !== null;
  }

  function render() {
    const answer = state.answer;
    if (!answer) {
      $("feedback").hidden = true;
      return;
    }
    const previous = document.querySelector('input[name="feedback-choice"]:checked')?.value;
    const choices = answer.body.labels.slice(0, SHOWN_CHOICES).map((label) => {
      const row = document.createElement("label");
      const input = Object.assign(document.createElement("input"), {
        type: "radio",
        name: "feedback-choice",
        value: label.name,
        checked: previous === label.name,
      });
      input.addEventListener("change", refreshForm);
      const text = document.createElement("span");
      text.textContent = t("choice", { name: label.name, confidence: percent(label.confidence) });
      row.append(input, " ", text);
      return row;
    });
    $("choice-list").replaceChildren(...choices);
    $("review-note").hidden = !answer.body.review_requested;
    $("box-editor").hidden = !detection;
    if (detection) editor.rerender();
    $("feedback-choices").disabled = state.sent !== null;
    $("other-label").disabled = state.sent !== null;
    if (state.sent !== null) $("feedback-status").textContent = t("feedbackThanks", { label: state.sent });
    $("feedback").hidden = false;
    refreshForm();
  }

  async function send() {
    const label = chosen();
    if (!label || !state.answer) return;
    state.sending = true;
    refreshForm();
    $("feedback-status").textContent = t("sendingFeedback");
    try {
      await api.feedback({
        s3_key: state.answer.s3Key,
        model_version: state.answer.body.model_version,
        answered: state.answer.body.labels.slice(0, 50).map(({ name, confidence }) => ({ name, confidence })),
        label,
        new_label: !state.known.includes(label),
        answer_source: state.answer.body.source ?? "model",
        ...(detection ? { boxes: editor.boxes() } : {}),
      });
      state.sent = label;
    } catch (problem) {
      $("feedback-status").textContent = problemText(problem);
    } finally {
      state.sending = false;
      render();
    }
  }

  // --- the review queue ------------------------------------------------------------

  const reviewEditors = new Map(); // feedback_id -> box editor (object detection)

  function reviewPhoto(item) {
    const image = Object.assign(document.createElement("img"), { src: item.image_url, alt: t("reviewPhoto") });
    if (!detection) return image;
    // Reviewers of a detection project see the boxes on the photo and can correct them.
    const wrapper = document.createElement("div");
    const frame = document.createElement("div");
    frame.className = "box-frame";
    frame.append(image);
    const list = document.createElement("ol");
    list.className = "box-list";
    const editor = createBoxEditor(frame, list, { labels: () => state.known, onChange: () => {} });
    const previous = reviewEditors.get(item.feedback_id);
    editor.load(previous ? previous.boxes() : (item.boxes ?? []));
    reviewEditors.set(item.feedback_id, editor);
    wrapper.append(frame, list);
    return wrapper;
  }

  function reviewItem(item) {
    const row = document.createElement("li");
    row.className = "review-item";
    row.dataset.id = item.feedback_id;
    const image = reviewPhoto(item);
    const facts = document.createElement("p");
    const suggested = document.createElement("strong");
    suggested.textContent = item.label ? t("suggested", { label: item.label }) : t("unsorted");
    const said = document.createElement("span");
    said.className = "note";
    const origin = item.origin === "person" ? t("fromPerson") : t("fromModel");
    said.textContent = item.answered_label
      ? ` · ${t("modelSaid", { label: item.answered_label, confidence: percent(item.answered_confidence ?? 0) })} · ${origin}`
      : ` · ${origin}`;
    facts.append(suggested, said);
    const actions = document.createElement("div");
    actions.className = "actions";
    const confirm = Object.assign(document.createElement("button"), { type: "button", textContent: t("confirm") });
    confirm.className = "primary";
    confirm.disabled = !item.label;
    confirm.addEventListener("click", () => act(item, "confirm"));
    const field = Object.assign(document.createElement("input"), { type: "text", maxLength: 100, autocomplete: "off" });
    field.setAttribute("list", "known-labels");
    field.setAttribute("aria-label", t("correctTo"));
    field.placeholder = t("correctTo");
    const correct = Object.assign(document.createElement("button"), { type: "button", textContent: t("correct") });
    correct.disabled = true;
    field.addEventListener("input", () => {
      correct.disabled = !validLabel(field.value);
    });
    correct.addEventListener("click", () => act(item, "correct", validLabel(field.value)));
    const discard = Object.assign(document.createElement("button"), { type: "button", textContent: t("discard") });
    discard.addEventListener("click", () => act(item, "discard"));
    actions.append(confirm, field, correct, discard);
    const status = document.createElement("p");
    status.className = "status";
    status.setAttribute("role", "status");
    row.append(image, facts, actions, status);
    return row;
  }

  function renderQueue() {
    const done = Object.entries(state.reviewStatus).map(([id, [key, params]]) => {
      const row = document.createElement("li");
      row.className = "review-item done";
      row.dataset.id = id;
      row.textContent = t(key, params);
      return row;
    });
    if (state.queueProblem) {
      $("review-status").textContent = problemText(state.queueProblem);
    } else if (state.items) {
      $("review-status").textContent = state.items.length
        ? t("reviewCount", { count: state.items.length })
        : t("reviewEmpty");
    }
    $("review-list").replaceChildren(...(state.items ?? []).map(reviewItem), ...done);
  }

  async function loadQueue() {
    $("review-status").textContent = t("reviewLoading");
    state.queueProblem = null;
    try {
      const queue = await api.reviewQueue();
      if (queue.known_labels.length) setKnown(queue.known_labels);
      state.items = queue.items;
      state.reviewStatus = {};
    } catch (problem) {
      state.queueProblem = problem;
    }
    renderQueue();
  }

  async function act(item, action, label) {
    const row = $("review-list").querySelector(`[data-id="${item.feedback_id}"]`);
    for (const button of row?.querySelectorAll("button, input") ?? []) button.disabled = true;
    try {
      const editor = reviewEditors.get(item.feedback_id);
      const answer = await api.review({
        feedback_id: item.feedback_id,
        action,
        ...(label ? { label, new_label: !state.known.includes(label) } : {}),
        ...(detection && editor && action !== "discard" ? { boxes: editor.boxes() } : {}),
      });
      state.reviewStatus[item.feedback_id] =
        answer.status === "discarded" ? ["reviewDiscarded", {}] : ["reviewConfirmed", { label: answer.label }];
      state.items = state.items.filter((x) => x.feedback_id !== item.feedback_id);
    } catch (problem) {
      if (problem instanceof ApiProblem && problem.code === "already_reviewed") {
        state.reviewStatus[item.feedback_id] = ["reviewTaken", {}];
        state.items = state.items.filter((x) => x.feedback_id !== item.feedback_id);
      } else {
        renderQueue();
        const again = $("review-list").querySelector(`[data-id="${item.feedback_id}"] .status`);
        if (again) again.textContent = problemText(problem);
        return;
      }
    }
    renderQueue();
  }

  $("choice-other").addEventListener("change", refreshForm);
  $("other-label").addEventListener("input", refreshForm);
  $("send-feedback").addEventListener("click", send);
  $("load-review").addEventListener("click", loadQueue);

  return {
    /** After sign-in: the promoted version's labels; reviewers see the queue. */
    async start(user) {
      const groups = user?.profile?.["cognito:groups"] ?? [];
      $("review").hidden = !(Array.isArray(groups) ? groups : [groups]).includes(REVIEWERS_GROUP);
      try {
        setKnown((await api.models()).labels ?? []);
      } catch {
        // Feedback still works: every label then counts as new until the list loads.
      }
    },
    /** A new labels answer (or null: another mode, another photo, an error). */
    show(answer) {
      state.answer = answer;
      if (detection && answer) {
        $("box-photo").src = answer.photoUrl ?? "";
        $("box-photo").alt = t("boxPhotoAlt");
        editor.load(
          answer.body.labels
            .filter((label) => label.bounding_box)
            .map((label) => ({ label: label.name, ...label.bounding_box })),
        );
      }
      state.sent = null;
      $("feedback-status").textContent = "";
      $("other-label").value = "";
      for (const input of document.querySelectorAll('input[name="feedback-choice"]')) input.checked = false;
      render();
    },
    /** The language changed. */
    rerender() {
      render();
      if (state.items || state.queueProblem) renderQueue();
    },
  };
}
