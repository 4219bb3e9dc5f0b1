// The latent explorer's script. It reads the model from the JSON block of the page, decodes
// latent points with the decoder's own weights (the engine's arithmetic: h = act(h Wᵀ + b) for
// each hidden layer, then a sigmoid of the output layer), and draws the scatter of the test
// set's codes, the decoded digit, the sliders and the interpolation strip. No request is made.
"use strict";

const $ = (id) => document.getElementById(id);
// A script error shows in the page (and so in a test's dump of the DOM).
window.addEventListener("error", (e) => { $("error").textContent = "error: " + e.message; });

const M = JSON.parse($("model").textContent);

// ---- The data: base64 of little-endian float32 (and of bytes, for the digits). ----
function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
function floats(b64) {
  const b = bytes(b64);
  const view = new DataView(b.buffer);
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

const L = M.latent, N = M.n, W = M.cols, H = M.rows;
const layers = M.layers.map((l) => ({ nin: l.in, nout: l.out, w: floats(l.w), b: floats(l.b) }));
const means = floats(M.means); // N x L, row-major: test point i is means[i*L .. i*L+L]
const labels = M.labels ? bytes(M.labels) : null;
const act = M.activation === "tanh" ? Math.tanh : (x) => (x > 0 ? x : 0);

// ---- The decoder: the same products, activation and sigmoid as the engine (here in f64). ----
function decode(z) {
  let h = z;
  layers.forEach((l, k) => {
    const out = new Float64Array(l.nout);
    const last = k === layers.length - 1;
    for (let j = 0; j < l.nout; j++) {
      const row = j * l.nin; // weights are [out, in], row-major (PyTorch's layout)
      let s = l.b[j];
      for (let i = 0; i < l.nin; i++) s += l.w[row + i] * h[i];
      out[j] = last ? 1 / (1 + Math.exp(-s)) : act(s);
    }
    h = out;
  });
  return h;
}

// ---- State. ----
const z = new Float64Array(L); // the decoded point
let dx = 0, dy = L > 1 ? 1 : -1; // the plane's two dimensions (dy = -1: a 1-D latent)
let picks = []; // clicked test points (indices), for the interpolation strip
const STEPS = 10; // decodes in the strip, ends included
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const colorOf = (i) => (labels ? COLORS[labels[i] % 10] : COLORS[0]);
const mean = (i, d) => means[i * L + d];

// With more than two dimensions the plane starts on the two whose codes vary the most.
function spread(d) {
  let s = 0, s2 = 0;
  for (let i = 0; i < N; i++) { s += mean(i, d); s2 += mean(i, d) ** 2; }
  return N ? s2 / N - (s / N) ** 2 : 0;
}
if (L > 2) {
  const order = [...Array(L).keys()].sort((a, b) => spread(b) - spread(a));
  [dx, dy] = [order[0], order[1]];
}

// ---- The plane: latent values <-> canvas pixels (y grows upwards). ----
const SIZE = 520, PAD = 12;
let rx, ry; // [lo, hi] of each axis
function extent(d) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; d >= 0 && i < N; i++) {
    const v = mean(i, d);
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!(hi > lo)) return [-3, 3];
  const m = 0.04 * (hi - lo);
  return [lo - m, hi + m];
}
const toX = (v) => PAD + ((v - rx[0]) / (rx[1] - rx[0])) * (SIZE - 2 * PAD);
const toY = (v) => SIZE - PAD - ((v - ry[0]) / (ry[1] - ry[0])) * (SIZE - 2 * PAD);
const fromX = (x) => rx[0] + ((x - PAD) / (SIZE - 2 * PAD)) * (rx[1] - rx[0]);
const fromY = (y) => ry[0] + ((SIZE - PAD - y) / (SIZE - 2 * PAD)) * (ry[1] - ry[0]);
const pointX = (i) => toX(mean(i, dx));
const pointY = (i) => (dy >= 0 ? toY(mean(i, dy)) : SIZE / 2);

// A canvas of w x h CSS pixels, sharp on high-density screens.
function context(c, w, h) {
  const r = window.devicePixelRatio || 1;
  c.width = w * r; c.height = h * r;
  c.style.width = w + "px"; c.style.height = h + "px";
  const g = c.getContext("2d");
  g.scale(r, r);
  return g;
}
const sg = context($("scatter"), SIZE, SIZE), og = context($("overlay"), SIZE, SIZE);

// The scatter of every test point's code in the plane, and the count drawn (for tests).
function drawScatter() {
  rx = extent(dx); ry = extent(dy);
  sg.clearRect(0, 0, SIZE, SIZE);
  sg.strokeStyle = "#ddd"; // the axes through 0
  sg.beginPath(); sg.moveTo(toX(0), 0); sg.lineTo(toX(0), SIZE);
  if (dy >= 0) { sg.moveTo(0, toY(0)); sg.lineTo(SIZE, toY(0)); }
  sg.stroke();
  sg.globalAlpha = 0.6;
  let drawn = 0;
  for (let i = 0; i < N; i++) {
    const x = pointX(i), y = pointY(i);
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    sg.fillStyle = colorOf(i);
    sg.fillRect(x - 1.5, y - 1.5, 3, 3);
    drawn++;
  }
  sg.globalAlpha = 1;
  $("points").textContent = drawn;
  $("points").dataset.count = drawn;
  const r = ([lo, hi]) => `${lo.toFixed(2)} … ${hi.toFixed(2)}`;
  $("axes").textContent = `${drawn} test points · across: z[${dx}] ${r(rx)}` +
    (dy >= 0 ? ` · up: z[${dy}] ${r(ry)}` : "");
}

// The current point (a cross), the picked test points (rings) and the line between them.
function drawOverlay() {
  og.clearRect(0, 0, SIZE, SIZE);
  og.lineWidth = 2; og.strokeStyle = "#000";
  if (picks.length === 2) {
    og.beginPath(); og.moveTo(pointX(picks[0]), pointY(picks[0]));
    og.lineTo(pointX(picks[1]), pointY(picks[1])); og.stroke();
  }
  for (const i of picks) { og.beginPath(); og.arc(pointX(i), pointY(i), 6, 0, 2 * Math.PI); og.stroke(); }
  const x = toX(z[dx]), y = dy >= 0 ? toY(z[dy]) : SIZE / 2;
  og.strokeStyle = "#d00";
  og.beginPath(); og.moveTo(x - 9, y); og.lineTo(x + 9, y); og.moveTo(x, y - 9); og.lineTo(x, y + 9);
  og.stroke();
}

// ---- Digits: pixel probabilities as grey levels, white ink on black, scaled up crisply. ----
function paint(canvas, p) {
  const g = canvas.getContext("2d"), img = g.createImageData(W, H);
  for (let i = 0; i < W * H; i++) {
    const v = Math.round(255 * p[i]);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  g.putImageData(img, 0, 0);
}
function digitCanvas(size) {
  const c = document.createElement("canvas");
  c.width = W; c.height = H;
  const scale = Math.max(1, Math.floor(size / Math.max(W, H)));
  c.style.width = W * scale + "px"; c.style.height = H * scale + "px";
  return c;
}
const digit = digitCanvas(280);
digit.id = "digit";
$("digit").replaceWith(digit);

// Decodes the current point and shows it everywhere; the pixels go to a hidden <pre> in full
// precision, and the time of the first decode since the page started loading to another.
const sliders = [];
let firstMs = null;
function show() {
  const p = decode(z);
  paint(digit, p);
  $("pixels").textContent = Array.from(p).join(" ");
  $("pixels").dataset.z = Array.from(z).join(",");
  $("zread").textContent = "z = (" + Array.from(z, (v) => v.toFixed(2)).join(", ") + ")";
  sliders.forEach(([input, out], d) => { input.value = z[d]; out.textContent = z[d].toFixed(2); });
  drawOverlay();
  if (firstMs === null) {
    firstMs = performance.now();
    $("first-decode-ms").textContent = firstMs.toFixed(1);
  }
}

// ---- Sliders for every dimension (up to 64) and the choice of the plane's two. ----
const SHOWN = Math.min(L, 64);
if (L > 2) {
  for (let d = 0; d < SHOWN; d++) {
    const label = document.createElement("label");
    const input = document.createElement("input"), out = document.createElement("span");
    const [lo, hi] = extent(d);
    Object.assign(input, { type: "range", min: Math.min(-3, lo), max: Math.max(3, hi), step: 0.01 });
    input.addEventListener("input", () => { z[d] = Number(input.value); show(); });
    label.append(`z[${d}]`, input, out);
    $("sliders").append(label);
    sliders.push([input, out, label]);
  }
  if (L > SHOWN) $("sliders").append(`z[${SHOWN}] … z[${L - 1}]: set by ?z= or a clicked point`);
  // Two menus; choosing the other axis's dimension swaps the two.
  const menus = ["plane: across ", "up "].map((text, axis) => {
    const s = document.createElement("select");
    for (let d = 0; d < L; d++) s.append(new Option(`z[${d}]`, d));
    s.addEventListener("change", () => {
      const d = Number(s.value);
      if (axis === 0) [dx, dy] = [d, d === dy ? dx : dy];
      else [dx, dy] = [d === dx ? dy : dx, d];
      menus[0].value = dx; menus[1].value = dy;
      replot();
    });
    $("dims").append(text, s, " ");
    return s;
  });
  menus[0].value = dx; menus[1].value = dy;
}
function replot() {
  sliders.forEach(([, , label], d) => label.classList.toggle("plane", d === dx || d === dy));
  drawScatter();
  show();
}

// ---- Pointing decodes at once; clicking picks the nearest test point. ----
const overlay = $("overlay");
function local(e) {
  const r = overlay.getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}
overlay.addEventListener("pointermove", (e) => {
  const [x, y] = local(e);
  z[dx] = fromX(x);
  if (dy >= 0) z[dy] = fromY(y);
  show();
});
let down = [0, 0]; // where the button went down: a drag that ends is not a click
overlay.addEventListener("pointerdown", (e) => { down = local(e); });
overlay.addEventListener("click", (e) => {
  const [x, y] = local(e);
  if ((x - down[0]) ** 2 + (y - down[1]) ** 2 > 16) return;
  let best = -1, bestD = 8 * 8; // within 8 pixels
  for (let i = 0; i < N; i++) {
    const d = (pointX(i) - x) ** 2 + (pointY(i) - y) ** 2;
    if (d < bestD) { best = i; bestD = d; }
  }
  if (best < 0) return;
  picks = picks.length === 2 ? [best] : picks.concat(best);
  for (let d = 0; d < L; d++) z[d] = mean(best, d); // the point's whole code
  if (picks.length === 2) strip();
  else $("status").textContent = `picked test image #${best}${digitOf(best)}; click another`;
  show();
});
const digitOf = (i) => (labels ? ` (a ${labels[i]})` : "");

// The interpolation strip: STEPS decodes along the straight line between the two codes.
function strip() {
  const [a, b] = picks;
  $("strip").textContent = "";
  for (let s = 0; s < STEPS; s++) {
    const t = s / (STEPS - 1), zs = new Float64Array(L);
    for (let d = 0; d < L; d++) zs[d] = mean(a, d) + t * (mean(b, d) - mean(a, d));
    const c = digitCanvas(84);
    paint(c, decode(zs));
    $("strip").append(c);
  }
  $("status").textContent = `from test image #${a}${digitOf(a)} to #${b}${digitOf(b)}`;
}

// ---- The corner: configuration and test loss; the legend. ----
const t = M.test, nats = (v) => (typeof v === "number" ? v.toFixed(2) : "n/a"); // JSON: NaN is null
$("info").innerText = [
  `model ${M.config}`,
  `${M.parameters.toLocaleString("en")} parameters, ${M.epoch} epoch${M.epoch === 1 ? "" : "s"}`,
  `test −ELBO ${nats(t.loss)} nats`,
  `(reconstruction ${nats(t.recon)}, KL ${nats(t.kl)})`,
  `${N} test points`,
].join("\n");
for (let k = 0; labels && k < 10; k++) {
  if (!labels.includes(k)) continue;
  const s = document.createElement("span");
  s.style.setProperty("--c", COLORS[k]);
  s.textContent = k;
  $("legend").append(s);
}

// ---- The address: ?z=0.5,-1.2 sets the decoded point (the dimensions it leaves out are 0);
// ?pair=3,17 picks two test points and shows the strip between them. ----
const query = new URLSearchParams(location.search);
const numbers = (s) => s.split(",").map((v) => (v.trim() === "" ? NaN : Number(v)));
if (query.has("pair")) {
  const p = numbers(query.get("pair"));
  if (p.length === 2 && p.every((i) => Number.isInteger(i) && i >= 0 && i < N)) {
    picks = p;
    strip();
  } else $("error").textContent = `?pair= needs two test point numbers below ${N}`;
}
// Without ?z= the page starts at the first test image's code (at the origin when there is none).
for (let d = 0; N > 0 && d < L; d++) z[d] = mean(0, d);
if (query.has("z")) {
  const v = numbers(query.get("z"));
  if (v.length > L || v.some((x) => !Number.isFinite(x))) {
    $("error").textContent = `?z= needs up to ${L} numbers separated by commas`;
  } else z.fill(0).set(v);
}
replot();
