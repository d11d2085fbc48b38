// Scan: a large exact-SKU field (a USB scanner types the code and presses Enter) and, where the browser
// has BarcodeDetector, the camera. A hit opens the item with the focus on its stock movement form.

import { api } from "../api.js";
import { h, heading, problemText } from "../dom.js";
import * as router from "../router.js";

export async function render(root) {
  const status = h("p", { class: "scan-status", role: "status", "aria-live": "assertive" });
  const input = h("input", { id: "scan-sku", name: "sku", class: "scan-input", autocomplete: "off", autocapitalize: "off",
    spellcheck: "false", enterkeyhint: "go", "aria-describedby": "scan-hint" });
  const form = h("form", { class: "card scan", novalidate: true, role: "search", "aria-label": "Find an item by SKU" },
    h("div", { class: "field" },
      h("label", { for: "scan-sku" }, "SKU"),
      input,
      h("small", { id: "scan-hint", class: "hint" }, "Scan a barcode or QR label, or type the SKU and press Enter.")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Find item")),
    status);

  let busy = false;
  async function find(raw) {
    const sku = raw.trim();
    if (!sku || busy) return;
    busy = true;
    status.className = "scan-status";
    status.textContent = `Looking up ${sku}…`;
    try {
      const answer = await api("/items", { query: { sku, per_page: 1 } });
      if (answer.data.length) {
        stopCamera();
        router.go(`/items/${answer.data[0].id}`, { focus: "movement" });
        return;
      }
      status.className = "scan-status error";
      status.textContent = `No item with SKU ${sku}.`;
    } catch (error) {
      if (error.status === 401) throw error;
      status.className = "scan-status error";
      status.textContent = error.status === 422 ? `${sku} is not a valid SKU.` : problemText(error);
    } finally {
      busy = false;
    }
    input.value = sku;
    input.select();
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); find(input.value); });

  // --- the camera, where the browser can read codes ---------------------------------------------
  let stream = null;
  let frame = null;
  const video = h("video", { class: "scan-video", muted: true, playsinline: true, hidden: true, "aria-label": "Camera view" });
  const cameraButton = h("button", { type: "button" }, "Use camera");
  const cameraCard = h("section", { class: "card", "aria-labelledby": "scan-camera" }, h("h2", { id: "scan-camera" }, "Camera"));

  function stopCamera() {
    if (frame) cancelAnimationFrame(frame);
    frame = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    cameraButton.textContent = "Use camera";
  }

  async function startCamera() {
    let detector;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats?.() ?? [];
      detector = new window.BarcodeDetector(formats.length ? { formats } : undefined);
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      stopCamera();
      status.className = "scan-status error";
      status.textContent = `The camera could not be started (${error.message || error.name}).`;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    cameraButton.textContent = "Stop camera";
    await video.play().catch(() => {});
    let looking = false;
    let lastCode = null; // a code not found is not looked up again on every frame
    const tick = async () => {
      if (!stream) return;
      if (!looking && video.readyState >= 2) {
        looking = true;
        try {
          const codes = await detector.detect(video);
          const code = codes[0]?.rawValue;
          if (code && code !== lastCode && stream) { lastCode = code; await find(code); }
        } catch { /* a frame that cannot be read: try the next one */ }
        looking = false;
      }
      if (stream) frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
  }

  if ("BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia) {
    cameraButton.addEventListener("click", () => (stream ? stopCamera() : startCamera()));
    cameraCard.append(h("p", {}, "Point the camera at a barcode or QR label."), cameraButton, video);
  } else {
    cameraCard.append(h("p", { class: "muted" },
      "This browser cannot read barcodes from the camera (it has no BarcodeDetector). Use a USB scanner or type the SKU."));
  }

  root.append(heading("Scan"), form, cameraCard);
  input.focus();
  return stopCamera;
}
