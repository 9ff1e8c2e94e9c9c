// Boxes drawn on the photo (object detection): draw, move, resize, delete, label each.
//
// Pointer events only, so a mouse, a pen and a finger work the same way (the frame
// sets touch-action: none, so a finger draws instead of scrolling). Boxes are kept
// as ratios of the photo (left, top, width, height in 0-1), the API's shape.
import { t } from "./i18n.js";

const MIN_SIDE = 0.01; // a box under 1% of the photo is a slip of the finger, not a box

function clamp(value, low = 0, high = 1) {
  return Math.min(high, Math.max(low, value));
}

/**
 * @param {HTMLElement} frame the element over the photo that takes the pointer
 * @param {HTMLElement} list where each box's label choice and delete button go
 * @param {{labels: () => string[], onChange: () => void}} options
 */
export function createBoxEditor(frame, list, { labels, onChange }) {
  let boxes = [];
  let gesture = null; // {kind: draw|move|resize, index, start: {x, y}, origin: box}

  function at(event) {
    const rect = frame.getBoundingClientRect();
    return { x: clamp((event.clientX - rect.left) / rect.width), y: clamp((event.clientY - rect.top) / rect.height) };
  }

  function changed() {
    render();
    onChange();
  }

  function render() {
    frame.querySelectorAll(".edit-box").forEach((node) => node.remove());
    boxes.forEach((box, index) => {
      const node = document.createElement("div");
      node.className = "edit-box";
      node.dataset.index = String(index);
      node.style.left = `${box.left * 100}%`;
      node.style.top = `${box.top * 100}%`;
      node.style.width = `${box.width * 100}%`;
      node.style.height = `${box.height * 100}%`;
      node.setAttribute("role", "img");
      node.setAttribute("aria-label", t("boxN", { n: index + 1, label: box.label }));
      const caption = document.createElement("span");
      caption.textContent = `${index + 1}: ${box.label}`;
      const handle = document.createElement("div");
      handle.className = "handle";
      handle.dataset.index = String(index);
      handle.setAttribute("aria-hidden", "true");
      node.append(caption, handle);
      frame.append(node);
    });
    list.replaceChildren(
      ...boxes.map((box, index) => {
        const row = document.createElement("li");
        const name = document.createElement("label");
        name.textContent = t("boxLabel", { n: index + 1 });
        const select = document.createElement("select");
        select.setAttribute("aria-label", t("boxLabel", { n: index + 1 }));
        for (const label of new Set([...labels(), box.label])) {
          select.append(Object.assign(document.createElement("option"), { value: label, textContent: label, selected: label === box.label }));
        }
        select.addEventListener("change", () => {
          boxes[index] = { ...boxes[index], label: select.value };
          changed();
        });
        const remove = Object.assign(document.createElement("button"), { type: "button", textContent: t("deleteBox", { n: index + 1 }) });
        remove.addEventListener("click", () => {
          boxes.splice(index, 1);
          changed();
        });
        name.append(" ", select);
        row.append(name, " ", remove);
        return row;
      }),
    );
  }

  frame.addEventListener("pointerdown", (event) => {
    const point = at(event);
    const target = event.target.closest?.("[data-index]");
    const index = target ? Number(target.dataset.index) : -1;
    if (index >= 0 && target.classList.contains("handle")) {
      gesture = { kind: "resize", index, start: point, origin: { ...boxes[index] } };
    } else if (index >= 0) {
      gesture = { kind: "move", index, start: point, origin: { ...boxes[index] } };
    } else {
      const label = labels()[0] ?? "object";
      boxes.push({ label, left: point.x, top: point.y, width: 0, height: 0 });
      gesture = { kind: "draw", index: boxes.length - 1, start: point, origin: null };
    }
    try {
      frame.setPointerCapture(event.pointerId); // keep the drag when the pointer leaves the frame
    } catch {
      // an event with no live pointer behind it (synthetic): the drag still works inside
    }
    event.preventDefault();
  });

  frame.addEventListener("pointermove", (event) => {
    if (!gesture) return;
    const point = at(event);
    const dx = point.x - gesture.start.x;
    const dy = point.y - gesture.start.y;
    const box = boxes[gesture.index];
    if (gesture.kind === "draw") {
      box.left = Math.min(gesture.start.x, point.x);
      box.top = Math.min(gesture.start.y, point.y);
      box.width = Math.abs(dx);
      box.height = Math.abs(dy);
    } else if (gesture.kind === "move") {
      box.left = clamp(gesture.origin.left + dx, 0, 1 - box.width);
      box.top = clamp(gesture.origin.top + dy, 0, 1 - box.height);
    } else {
      box.width = clamp(gesture.origin.width + dx, MIN_SIDE, 1 - box.left);
      box.height = clamp(gesture.origin.height + dy, MIN_SIDE, 1 - box.top);
    }
    render();
  });

  function finish() {
    if (!gesture) return;
    const box = boxes[gesture.index];
    if (gesture.kind === "draw" && (box.width < MIN_SIDE || box.height < MIN_SIDE)) boxes.splice(gesture.index, 1);
    gesture = null;
    changed();
  }
  frame.addEventListener("pointerup", finish);
  frame.addEventListener("pointercancel", finish);

  return {
    /** Start from these boxes (the model's), as ratios. */
    load(initial) {
      boxes = initial.map((box) => ({ ...box }));
      render();
    },
    /** The boxes as the API takes them (rounded to 6 decimals, inside the photo). */
    boxes() {
      return boxes.map(({ label, left, top, width, height }) => {
        const l = Number(clamp(left).toFixed(6));
        const tp = Number(clamp(top).toFixed(6));
        return {
          label,
          left: l,
          top: tp,
          width: Number(Math.min(width, 1 - l).toFixed(6)),
          height: Number(Math.min(height, 1 - tp).toFixed(6)),
        };
      });
    },
    rerender: render,
  };
}
