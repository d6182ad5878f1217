// keras_gen latent explorer: plain JavaScript, no build step, no network beyond this origin.
// Every image comes from an export's signatures through TF Serving's REST API
// (POST /v1/models/<name>/versions/<v>:predict, columnar "inputs" format); the model list and each
// model's keras_gen.json come from GET /v1/keras_gen/models, the VAE map's test images from
// GET /v1/keras_gen/models/<name>/testset.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"];
  const INT32_MIN = -2147483648, INT32_MAX = 2147483647;
  const PRIOR_SEEDS = 512;         // seeds whose latents give each coordinate's mean and sigma
  const REQUEST_CAP = 256;         // examples per request (less when the export's max_batch is lower)
  const AUTO_RANK_BUDGET = 2e6;    // rank sensitivity on load when 2 * latent * pixels is under this

  const S = {
    config: {}, models: [], entry: null, version: null, meta: null, gen: 0,
    family: null, d: 0, shape: [28, 28, 1], K: null, sigs: new Set(), maxBatch: REQUEST_CAP,
    z: null, seed: 0, seedZ: null, label: 0, locks: [], focus: 0,
    mean: null, std: null, sensitivity: null, sensitivitySeed: null,
    lastRequest: null, lastMain: null, requests: 0, inflight: 0, renders: 0, mainImage: null,
    map: null, walk: null, interp: null, sliderEls: [],
  };
  let readyResolve;
  const ready = new Promise((resolve) => { readyResolve = resolve; });
  // For tests and the console: the state, and the map's canvas <-> latent conversions.
  window.kgExplorer = {
    state: S, ready,
    idle: () => !renderBusy && !renderPending && S.inflight === 0 && timersPending === 0,
    mapToLatent: (x, y) => unproject(S.map, ...fromCanvas(S.map, x, y)),
    latentToMap: (z) => toCanvas(S.map, ...project(S.map, z)),
  };

  // ------------------------------------------------------------------ small helpers
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const range = (n, start = 0) => Array.from({ length: n }, (_, i) => start + i);
  let timersPending = 0;  // debounced calls not run yet (the page is not idle while there are any)
  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      if (timer === null) timersPending += 1;
      clearTimeout(timer);
      timer = setTimeout(() => { timer = null; timersPending -= 1; fn(...args); }, ms);
    };
  }
  function setStatus(text, kind = "") {
    const el = $("status");
    el.textContent = text;
    el.className = kind;
  }
  function fail(err) {
    console.error(err);
    setStatus(String((err && err.message) || err), "error");
  }
  const guard = (fn) => (...args) => Promise.resolve().then(() => fn(...args)).catch(fail);
  function fmt(v, digits = 3) { return Number(v).toFixed(digits); }

  // ------------------------------------------------------------------ the REST API
  async function getJSON(url) {
    const reply = await fetch(url, { cache: "no-store" });
    let body;
    try { body = await reply.json(); } catch (e) { throw new Error(`${url}: HTTP ${reply.status}`); }
    if (!reply.ok) throw new Error(body.error || `${url}: HTTP ${reply.status}`);
    return body;
  }

  function modelUrl() {
    return `/v1/models/${encodeURIComponent(S.entry.name)}/versions/${encodeURIComponent(S.version)}`;
  }

  async function predictOnce(signature, inputs) {
    const started = performance.now();
    S.inflight += 1;
    let reply, text;
    try {
      reply = await fetch(`${modelUrl()}:predict`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ signature_name: signature, inputs }),
      });
      text = await reply.text();
    } finally {
      S.inflight -= 1;
    }
    let body;
    try { body = JSON.parse(text); } catch (e) { throw new Error(`${signature}: HTTP ${reply.status}`); }
    if (!reply.ok) throw new Error(`${signature}: ${body.error || "HTTP " + reply.status}`);
    const first = Object.values(inputs)[0];
    S.requests += 1;
    S.lastRequest = {
      signature, batch: Array.isArray(first) ? first.length : 1, ms: performance.now() - started,
      label: inputs.label ? inputs.label[0] : null, labels: inputs.label || null, bytes: text.length,
    };
    return body.outputs;
  }

  // Splits the batch into requests of at most the export's cap and joins the outputs.
  async function predict(signature, inputs) {
    const names = Object.keys(inputs);
    const n = inputs[names[0]].length;
    const cap = Math.max(1, Math.min(S.maxBatch || REQUEST_CAP, REQUEST_CAP));
    if (n <= cap) return predictOnce(signature, inputs);
    let joined = null;
    for (let i = 0; i < n; i += cap) {
      const part = {};
      for (const k of names) part[k] = inputs[k].slice(i, i + cap);
      const out = await predictOnce(signature, part);
      if (joined === null) joined = out;
      else if (Array.isArray(out)) joined = joined.concat(out);
      else for (const k of Object.keys(out)) joined[k] = joined[k].concat(out[k]);
    }
    return joined;
  }

  const toImages = (nested) => nested.map((image) => Float32Array.from(image.flat(2)));
  const generateSignature = () => (S.family === "vae" && S.sigs.has("decode") ? "decode" : "generate");

  async function generate(zs, labels = null) {
    const inputs = { z: zs.map((z) => Array.from(z)) };
    if (S.K) inputs.label = labels || zs.map(() => S.label);
    return toImages(await predict(generateSignature(), inputs));
  }

  async function latents(seeds) {
    if (S.sigs.has("latent")) return (await predict("latent", { seed: seeds })).map((z) => Float64Array.from(z));
    return seeds.map((seed) => gaussianFromSeed(seed, S.d));  // exports from before the latent signature
  }

  function gaussianFromSeed(seed, d) {  // mulberry32 + Box-Muller: a stand-in prior, N(0, 1)
    let a = seed >>> 0;
    const rand = () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return Float64Array.from(range(d), () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
  }

  // ------------------------------------------------------------------ pixels
  const offscreen = document.createElement("canvas");

  // Paints an image (floats in [0, 1] with scale 255, or uint8 with scale 1) into ctx's rectangle.
  function paint(ctx, data, shape, x, y, w, h, { offset = 0, scale = 255, alpha = 1 } = {}) {
    const [H, W, C] = shape;
    offscreen.width = W;
    offscreen.height = H;
    const octx = offscreen.getContext("2d");
    const image = octx.createImageData(W, H);
    const px = image.data;
    for (let i = 0, p = offset; i < H * W; i += 1, p += C) {
      const r = data[p] * scale, g = C >= 3 ? data[p + 1] * scale : r, b = C >= 3 ? data[p + 2] * scale : r;
      px[4 * i] = r; px[4 * i + 1] = g; px[4 * i + 2] = b; px[4 * i + 3] = 255;
    }
    octx.putImageData(image, 0, 0);
    ctx.save();
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = alpha;
    ctx.drawImage(offscreen, x, y, w, h);
    ctx.restore();
  }

  function paintStrip(canvas, images, cell) {
    const [H, W] = S.shape;
    const ch = Math.round(cell * H / W);
    canvas.width = images.length * cell;
    canvas.height = ch;
    const ctx = canvas.getContext("2d");
    images.forEach((im, k) => paint(ctx, im, S.shape, k * cell, 0, cell, ch));
  }

  function downloadCanvas(canvas, name) {
    canvas.toBlob((blob) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }, "image/png");
  }

  // ------------------------------------------------------------------ the main image
  let renderPending = false, renderBusy = false;
  function requestRender() {
    renderPending = true;
    if (!renderBusy) pump();
  }
  async function pump() {
    renderBusy = true;
    setStatus("drawing", "busy");
    try {
      while (renderPending) {
        renderPending = false;
        const gen = S.gen, z = Array.from(S.z), label = S.label;
        const [image] = await generate([z], S.K ? [label] : null);
        if (gen !== S.gen) continue;
        S.mainImage = image;
        S.renders += 1;
        S.lastMain = { ...S.lastRequest, z, label: S.K ? label : null };
        paintMain(image);
        showRequestInfo();
        setStatus("ready");
        afterZChange();
      }
    } catch (err) {
      fail(err);
    } finally {
      renderBusy = false;
    }
  }

  function paintMain(image) {
    const canvas = $("main-image");
    const [H, W] = S.shape;
    const side = 280;
    canvas.width = W >= H ? side : Math.round(side * W / H);
    canvas.height = H >= W ? side : Math.round(side * H / W);
    paint(canvas.getContext("2d"), image, S.shape, 0, 0, canvas.width, canvas.height);
    canvas.dataset.renders = String(S.renders);
    canvas.dataset.label = S.K ? String(S.lastMain.label) : "";
    document.body.dataset.lastLabel = canvas.dataset.label;
  }

  function showRequestInfo() {
    const r = S.lastMain;
    if (!r) return;
    const label = S.K ? ` · class ${r.label}` : "";
    $("request-info").textContent =
      `${r.signature} · z[${S.d}]${label} · ${r.ms.toFixed(0)} ms round trip · ${(r.bytes / 1024).toFixed(0)} KiB`;
  }

  const afterZChange = debounce(() => {
    updateURL();
    refreshStrips().catch(fail);
    if (S.K) refreshClassRow().catch(fail);
    if (S.map) drawMap();
  }, 250);

  function setZ(z, { fromMap = false } = {}) {
    S.z = Array.from(z);
    syncSliders();
    if (S.map && !fromMap) drawMap();
    requestRender();
  }

  function setCoord(i, value) {
    if (!Number.isFinite(value)) return;
    S.z[i] = value;
    syncSliders(i);
    requestRender();
  }

  // ------------------------------------------------------------------ sliders
  function buildSliders() {
    const box = $("sliders");
    box.textContent = "";
    S.sliderEls = range(S.d).map((i) => {
      const row = document.createElement("div");
      row.className = "slider";
      row.dataset.index = String(i);
      const lock = document.createElement("input");
      lock.type = "checkbox";
      lock.title = "lock: Randomise and Zero keep this coordinate";
      lock.setAttribute("aria-label", `lock z[${i}]`);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = `z[${i}]`;
      const slider = document.createElement("input");
      slider.type = "range";
      slider.min = String(S.mean[i] - 3 * S.std[i]);
      slider.max = String(S.mean[i] + 3 * S.std[i]);
      slider.step = String(S.std[i] / 100);
      slider.setAttribute("aria-label", `z[${i}]`);
      const number = document.createElement("input");
      number.type = "number";
      number.step = "0.01";
      number.setAttribute("aria-label", `z[${i}] value`);
      const sens = document.createElement("div");
      sens.className = "sens";
      sens.title = "sensitivity: mean absolute pixel change for ±1σ";
      row.append(lock, name, slider, number, sens);
      slider.addEventListener("input", () => { setFocus(i); setCoord(i, parseFloat(slider.value)); });
      number.addEventListener("change", () => {
        const v = parseFloat(number.value);
        if (Number.isFinite(v)) { setFocus(i); setCoord(i, v); } else number.value = fmt(S.z[i]);
      });
      lock.addEventListener("change", () => { S.locks[i] = lock.checked; updateURL(); });
      row.addEventListener("pointerdown", () => setFocus(i));
      box.appendChild(row);
      return { row, lock, slider, number, sens };
    });
    $("sliders-caption").textContent = `${S.d} coordinates, each over mean ± 3σ of the prior (from ${PRIOR_SEEDS} seeds)`;
    orderSliders();
  }

  function syncSliders(only = null) {
    const indices = only === null ? range(S.d) : [only];
    for (const i of indices) {
      const el = S.sliderEls[i];
      if (!el) continue;
      el.slider.value = String(S.z[i]);
      if (document.activeElement !== el.number) el.number.value = fmt(S.z[i]);
      el.lock.checked = !!S.locks[i];
    }
  }

  function setFocus(i) {
    if (S.focus === i) return;
    S.focus = i;
    S.sliderEls.forEach((el, k) => el.row.classList.toggle("focused", k === i));
  }

  function orderSliders() {
    const box = $("sliders");
    const bySens = $("slider-order").value === "sensitivity" && S.sensitivity;
    const order = bySens ? sensitivityOrder() : range(S.d);
    const visible = parseFilter($("slider-filter").value);
    for (const i of order) {
      const el = S.sliderEls[i];
      el.row.hidden = visible !== null && !visible.has(i);
      box.appendChild(el.row);
    }
  }

  function parseFilter(text) {
    text = text.trim();
    if (!text) return null;
    const keep = new Set();
    for (const part of text.split(/[ ,]+/)) {
      const m = part.match(/^(\d+)(?:-(\d+))?$/);
      if (!m) continue;
      const lo = +m[1], hi = m[2] === undefined ? lo : +m[2];
      for (let i = lo; i <= Math.min(hi, S.d - 1); i += 1) keep.add(i);
    }
    return keep;
  }

  const sensitivityOrder = () => range(S.d).sort((a, b) => S.sensitivity[b] - S.sensitivity[a]);

  // ------------------------------------------------------------------ sensitivity and traversals
  // Sensitivity of coordinate i at the current z: the mean absolute pixel difference between the
  // images at z + sigma_i e_i and z - sigma_i e_i, halved (change per sigma).
  async function rankSensitivity() {
    const gen = S.gen;
    setStatus("ranking coordinates", "busy");
    const zs = [];
    for (let i = 0; i < S.d; i += 1) {
      const up = S.z.slice(), down = S.z.slice();
      up[i] += S.std[i];
      down[i] -= S.std[i];
      zs.push(up, down);
    }
    const images = await generate(zs);
    if (gen !== S.gen) return;
    S.sensitivity = range(S.d).map((i) => {
      const a = images[2 * i], b = images[2 * i + 1];
      let total = 0;
      for (let p = 0; p < a.length; p += 1) total += Math.abs(a[p] - b[p]);
      return total / a.length / 2;
    });
    S.sensitivitySeed = S.seed;
    const top = Math.max(...S.sensitivity, 1e-12);
    S.sliderEls.forEach((el, i) => {
      el.sens.style.width = `${(100 * S.sensitivity[i] / top).toFixed(1)}%`;
      el.sens.title = `sensitivity ${S.sensitivity[i].toFixed(4)} (mean |Δpixel| per σ)`;
    });
    orderSliders();
    setStatus("ready");
    await refreshStrips();
  }

  function stripCoordinates() {
    const choice = $("strip-count").value;
    const count = choice === "all" ? S.d : Math.min(S.d, parseInt(choice, 10));
    const order = S.sensitivity ? sensitivityOrder() : range(S.d);
    return [S.focus, ...order.filter((i) => i !== S.focus)].slice(0, count);
  }

  let stripToken = 0;
  async function refreshStrips() {
    if (!S.z) return;
    const token = ++stripToken, gen = S.gen;
    const steps = parseInt($("strip-steps").value, 10);
    const coords = stripCoordinates();
    const values = (i) => range(steps).map((k) => S.mean[i] + S.std[i] * (-3 + 6 * k / (steps - 1)));
    const zs = [];
    for (const i of coords) for (const v of values(i)) { const z = S.z.slice(); z[i] = v; zs.push(z); }
    const images = await generate(zs);
    if (token !== stripToken || gen !== S.gen) return;
    const box = $("strips");
    box.textContent = "";
    coords.forEach((i, n) => {
      const row = document.createElement("div");
      row.className = "strip-row";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = S.sensitivity ? `z[${i}] ${S.sensitivity[i].toFixed(3)}` : `z[${i}]`;
      if (i === S.focus) name.textContent += " ◀";
      const canvas = document.createElement("canvas");
      canvas.dataset.index = String(i);
      paintStrip(canvas, images.slice(n * steps, (n + 1) * steps), 48);
      canvas.title = `z[${i}] from ${fmt(values(i)[0], 2)} to ${fmt(values(i)[steps - 1], 2)}; click to take a value`;
      canvas.addEventListener("click", (ev) => {
        const k = clamp(Math.floor(ev.offsetX / (canvas.clientWidth / steps)), 0, steps - 1);
        setFocus(i);
        setCoord(i, values(i)[k]);
      });
      row.append(name, canvas);
      box.appendChild(row);
    });
  }

  // ------------------------------------------------------------------ classes
  let classToken = 0;
  async function refreshClassRow() {
    if (!S.K) return;
    const token = ++classToken, gen = S.gen;
    const z = S.z.slice();
    const images = await generate(range(S.K).map(() => z), range(S.K));
    if (token !== classToken || gen !== S.gen) return;
    const row = $("class-row");
    row.textContent = "";
    row.style.gridTemplateColumns = `repeat(${Math.min(S.K, 10)}, 1fr)`;
    images.forEach((im, k) => {
      const canvas = document.createElement("canvas");
      const [H, W] = S.shape;
      canvas.width = W;
      canvas.height = H;
      paint(canvas.getContext("2d"), im, S.shape, 0, 0, W, H);
      canvas.title = `class ${k}`;
      canvas.dataset.label = String(k);
      canvas.classList.toggle("current", k === S.label);
      canvas.addEventListener("click", () => setLabel(k));
      row.appendChild(canvas);
    });
  }

  function setLabel(k) {
    S.label = clamp(k | 0, 0, S.K - 1);
    $("class").value = String(S.label);
    [...$("class-row").children].forEach((c, i) => c.classList.toggle("current", i === S.label));
    requestRender();
    // Strips drawn for another class are redrawn for this one (they would show the old class).
    if (S.walk && S.walk.images && S.walk.label !== S.label) guard(walk)();
    if (S.interp && S.interp.label !== S.label) guard(interpolateSeeds)();
  }

  // ------------------------------------------------------------------ seeds
  function readSeed(input) {
    const v = Number(input.value);
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
      throw new Error(`a seed must be an integer in int32's range (${INT32_MIN}..${INT32_MAX})`);
    }
    return v;
  }

  async function goToSeed(seed, { keepLocks = true } = {}) {
    const gen = S.gen;
    const [z] = await latents([seed]);
    if (gen !== S.gen) return;
    S.seed = seed;
    S.seedZ = Array.from(z);
    $("seed").value = String(seed);
    const next = S.seedZ.slice();
    if (keepLocks) S.locks.forEach((locked, i) => { if (locked) next[i] = S.z[i]; });
    setZ(next);
    maybeAutoRank();
  }

  function maybeAutoRank() {
    const pixels = S.shape[0] * S.shape[1] * S.shape[2];
    if (2 * S.d * pixels <= AUTO_RANK_BUDGET) rankSensitivity().catch(fail);
  }

  // ------------------------------------------------------------------ interpolation between seeds
  function lerpPath(z0, z1, steps) {
    return range(steps).map((k) => { const t = k / (steps - 1); return z0.map((a, i) => (1 - t) * a + t * z1[i]); });
  }
  // slerp as keras_gen.utils.latent_paths.spherical_interpolation: linear where the two are parallel.
  function slerpPath(z0, z1, steps) {
    const dot = z0.reduce((s, a, i) => s + a * z1[i], 0);
    const n0 = Math.hypot(...z0), n1 = Math.hypot(...z1);
    const omega = Math.acos(clamp(dot / Math.max(n0 * n1, 1e-12), -1, 1));
    if (Math.sin(omega) < 1e-6) return lerpPath(z0, z1, steps);
    return range(steps).map((k) => {
      const t = k / (steps - 1), a = Math.sin((1 - t) * omega), b = Math.sin(t * omega), s = Math.sin(omega);
      return z0.map((v, i) => (a * v + b * z1[i]) / s);
    });
  }
  const pathOf = (mode) => (mode === "spherical" ? slerpPath : lerpPath);
  const checkedValue = (name) => document.querySelector(`input[name=${name}]:checked`).value;

  async function interpolateSeeds() {
    const a = readSeed($("interp-a")), b = readSeed($("interp-b"));
    const steps = clamp(parseInt($("interp-steps").value, 10) || 10, 2, 64);
    const mode = checkedValue("interp-mode");
    const [z0, z1] = await latents([a, b]);
    const path = pathOf(mode)(Array.from(z0), Array.from(z1), steps);
    const images = await generate(path);
    stopAnimation("interp");
    S.interp = { a, b, mode, steps, path, images, label: S.K ? S.label : null };
    paintStrip($("interp-strip"), images, Math.max(28, Math.min(56, Math.floor(560 / steps))));
    const anim = $("interp-anim");
    paint(anim.getContext("2d"), images[0], S.shape, 0, 0, anim.width, anim.height);
  }

  const animations = {};
  function stopAnimation(which) {
    if (animations[which]) {
      clearInterval(animations[which].timer);
      delete animations[which];
      $(`${which}-play`).textContent = "Play";
      $(`${which}-play`).classList.remove("active");
    }
  }
  function playFrames(which, count, show) {
    if (animations[which]) { stopAnimation(which); return; }
    let k = 0, step = 1;
    const timer = setInterval(() => {
      show(k);
      if (k + step < 0 || k + step >= count) step = -step;  // ping-pong
      k += step;
    }, 120);
    animations[which] = { timer };
    $(`${which}-play`).textContent = "Stop";
    $(`${which}-play`).classList.add("active");
  }

  // ------------------------------------------------------------------ animated GIF export
  // A GIF89a of the frames (ping-pong, looping), scaled up with nearest neighbour: 256 greys for
  // one-channel images, a fixed 6x7x6 colour cube for RGB. LZW as in the GIF spec (variable codes
  // of up to 12 bits, a clear code when the table is full).
  function lzw(indices, minCodeSize) {
    const clear = 1 << minCodeSize, eoi = clear + 1, out = [];
    let codeSize = minCodeSize + 1, next = eoi + 1, table = new Map(), acc = 0, bits = 0;
    const emit = (code) => {
      acc |= code << bits;
      bits += codeSize;
      while (bits >= 8) { out.push(acc & 255); acc >>>= 8; bits -= 8; }
    };
    emit(clear);
    let prefix = indices[0];
    for (let i = 1; i < indices.length; i += 1) {
      const k = indices[i], key = prefix * 256 + k, hit = table.get(key);
      if (hit !== undefined) { prefix = hit; continue; }
      emit(prefix);
      if (next === 4096) {
        emit(clear);
        next = eoi + 1; codeSize = minCodeSize + 1; table = new Map();
      } else {
        if (next >= (1 << codeSize)) codeSize += 1;
        table.set(key, next);
        next += 1;
      }
      prefix = k;
    }
    emit(prefix);
    emit(eoi);
    if (bits > 0) out.push(acc & 255);
    return out;
  }

  function encodeGif(images, shape, scale = 4, delay = 12) {
    const [H, W, C] = shape, w = W * scale, h = H * scale;
    const bytes = [];
    const u16 = (v) => bytes.push(v & 255, (v >> 8) & 255);
    const ascii = (t) => { for (const ch of t) bytes.push(ch.charCodeAt(0)); };
    ascii("GIF89a"); u16(w); u16(h); bytes.push(0xF7, 0, 0);
    for (let i = 0; i < 256; i += 1) {
      if (C === 1) bytes.push(i, i, i);
      else if (i < 252) bytes.push(Math.round(Math.floor(i / 42) * 51), Math.round((Math.floor(i / 6) % 7) * 42.5), (i % 6) * 51);
      else bytes.push(0, 0, 0);
    }
    bytes.push(0x21, 0xFF, 0x0B); ascii("NETSCAPE2.0"); bytes.push(0x03, 0x01, 0, 0, 0);
    const order = [...images.keys(), ...[...images.keys()].reverse().slice(1, -1)];
    for (const f of order) {
      const im = images[f], indices = new Uint8Array(w * h);
      for (let y = 0; y < h; y += 1) {
        for (let x = 0; x < w; x += 1) {
          const p = (Math.floor(y / scale) * W + Math.floor(x / scale)) * C, v = (c) => clamp(im[p + c], 0, 1);
          indices[y * w + x] = C === 1 ? Math.round(v(0) * 255)
            : Math.round(v(0) * 5) * 42 + Math.round(v(1) * 6) * 6 + Math.round(v(2) * 5);
        }
      }
      bytes.push(0x21, 0xF9, 0x04, 0); u16(delay); bytes.push(0, 0);
      bytes.push(0x2C); u16(0); u16(0); u16(w); u16(h); bytes.push(0);
      bytes.push(8);
      const data = lzw(indices, 8);
      for (let i = 0; i < data.length; i += 255) {
        const block = data.slice(i, i + 255);
        bytes.push(block.length, ...block);
      }
      bytes.push(0);
    }
    bytes.push(0x3B);
    return new Uint8Array(bytes);
  }

  function downloadGif(images, name) {
    const blob = new Blob([encodeGif(images, S.shape)], { type: "image/gif" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  window.kgExplorer.encodeGif = encodeGif;

  // ------------------------------------------------------------------ URL state
  function updateURL() {
    if (!S.entry || !S.z) return;
    const p = new URLSearchParams();
    p.set("model", S.entry.name);
    p.set("version", S.version);
    p.set("seed", String(S.seed));
    if (S.K) p.set("label", String(S.label));
    p.set("z", S.z.map((v) => +v.toFixed(4)).join(","));
    const locked = range(S.d).filter((i) => S.locks[i]);
    if (locked.length) p.set("lock", locked.join(","));
    history.replaceState(null, "", `${location.pathname}?${p}`);
  }

  function readURL() {
    const p = new URLSearchParams(location.search);
    const num = (key) => (p.has(key) && p.get(key) !== "" && Number.isFinite(+p.get(key)) ? +p.get(key) : null);
    const z = p.has("z") ? p.get("z").split(",").map(Number) : null;
    return {
      model: p.get("model"), version: p.get("version"), seed: num("seed"), label: num("label"),
      z: z && z.every(Number.isFinite) ? z : null,
      lock: p.has("lock") ? p.get("lock").split(",").map(Number).filter(Number.isInteger) : [],
    };
  }

  // ------------------------------------------------------------------ VAE map
  function pcaAxes(means, d) {
    const n = means.length;
    const center = new Float64Array(d);
    for (const m of means) for (let i = 0; i < d; i += 1) center[i] += m[i] / n;
    const cov = Array.from({ length: d }, () => new Float64Array(d));
    for (const m of means) {
      for (let i = 0; i < d; i += 1) {
        const di = m[i] - center[i];
        for (let j = i; j < d; j += 1) cov[i][j] += di * (m[j] - center[j]) / n;
      }
    }
    for (let i = 0; i < d; i += 1) for (let j = 0; j < i; j += 1) cov[i][j] = cov[j][i];
    const k = Math.min(d, 8);
    // Subspace iteration with Gram-Schmidt: the columns converge to the top eigenvectors in order.
    let Q = range(k).map((c) => Float64Array.from(range(d), (i) => (i === c ? 1 : 0) + 0.01 * Math.sin(7 * i + 3 * c)));
    const orthonormalise = (vs) => {
      for (let a = 0; a < vs.length; a += 1) {
        for (let b = 0; b < a; b += 1) {
          const dot = vs[a].reduce((s, v, i) => s + v * vs[b][i], 0);
          for (let i = 0; i < d; i += 1) vs[a][i] -= dot * vs[b][i];
        }
        const norm = Math.hypot(...vs[a]) || 1;
        for (let i = 0; i < d; i += 1) vs[a][i] /= norm;
      }
      return vs;
    };
    const times = (v) => Float64Array.from(range(d), (i) => cov[i].reduce((s, c, j) => s + c * v[j], 0));
    Q = orthonormalise(Q);
    for (let it = 0; it < 200; it += 1) Q = orthonormalise(Q.map(times));
    const variances = Q.map((q) => times(q).reduce((s, v, i) => s + v * q[i], 0));
    const total = cov.reduce((s, row, i) => s + row[i], 0) || 1;
    return { center, components: Q, explained: variances.map((v) => v / total) };
  }

  function axisOptions(M) {
    const options = [];
    if (S.d > 2) {
      M.pca.components.forEach((vec, c) => options.push({
        label: `PC${c + 1} (${(100 * M.pca.explained[c]).toFixed(0)}%)`, vec, off: 0, raw: -1,
      }));
    }
    for (let i = 0; i < S.d; i += 1) {
      const vec = new Float64Array(S.d);
      vec[i] = 1;
      options.push({ label: `z[${i}]`, vec, off: M.center[i], raw: i });
    }
    return options;
  }

  function project(M, z) {
    const ax = M.axes[M.ax], ay = M.axes[M.ay];
    let u = ax.off, v = ay.off;
    for (let i = 0; i < S.d; i += 1) { const c = z[i] - M.center[i]; u += c * ax.vec[i]; v += c * ay.vec[i]; }
    return [u, v];
  }

  function unproject(M, u, v) {
    const ax = M.axes[M.ax], ay = M.axes[M.ay];
    return Array.from(M.center, (c, i) => c + (u - ax.off) * ax.vec[i] + (v - ay.off) * ay.vec[i]);
  }

  const MAP_PAD = 16;
  function layoutMap(M) {
    M.points = M.means.map((z) => project(M, z));
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [u, v] of M.points) { x0 = Math.min(x0, u); x1 = Math.max(x1, u); y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
    // A raw coordinate's axis also spans the prior's mean +- 2 sigma, where most samples come from.
    const ix = M.axes[M.ax].raw, iy = M.axes[M.ay].raw;
    if (ix >= 0) { x0 = Math.min(x0, S.mean[ix] - 2 * S.std[ix]); x1 = Math.max(x1, S.mean[ix] + 2 * S.std[ix]); }
    if (iy >= 0) { y0 = Math.min(y0, S.mean[iy] - 2 * S.std[iy]); y1 = Math.max(y1, S.mean[iy] + 2 * S.std[iy]); }
    const px = 0.08 * ((x1 - x0) || 1), py = 0.08 * ((y1 - y0) || 1);
    M.bounds = [x0 - px, x1 + px, y0 - py, y1 + py];
  }
  function toCanvas(M, u, v) {
    const c = $("map"), [x0, x1, y0, y1] = M.bounds;
    return [MAP_PAD + (u - x0) / (x1 - x0) * (c.width - 2 * MAP_PAD),
            c.height - MAP_PAD - (v - y0) / (y1 - y0) * (c.height - 2 * MAP_PAD)];
  }
  function fromCanvas(M, x, y) {
    const c = $("map"), [x0, x1, y0, y1] = M.bounds;
    return [x0 + (x - MAP_PAD) / (c.width - 2 * MAP_PAD) * (x1 - x0),
            y0 + (c.height - MAP_PAD - y) / (c.height - 2 * MAP_PAD) * (y1 - y0)];
  }
  const colourOf = (label) => (label < 0 ? "#555" : label < 10 ? PALETTE[label] : `hsl(${(label * 47) % 360} 65% 45%)`);

  function drawMap() {
    const M = S.map;
    if (!M) return;
    const c = $("map"), ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.strokeStyle = "#c9ced8";
    ctx.lineWidth = 1;
    const [ox, oy] = toCanvas(M, 0, 0);  // z = 0 on raw axes, the test means' centre on PCs
    ctx.beginPath(); ctx.moveTo(0, oy); ctx.lineTo(c.width, oy); ctx.moveTo(ox, 0); ctx.lineTo(ox, c.height); ctx.stroke();
    ctx.globalAlpha = 0.85;
    M.points.forEach(([u, v], n) => {
      if (M.hidden.has(M.labels[n])) return;
      const [x, y] = toCanvas(M, u, v);
      ctx.fillStyle = colourOf(M.labels[n]);
      ctx.beginPath(); ctx.arc(x, y, 2.6, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.globalAlpha = 1;
    // Overlays are drawn twice, wide in white and then narrow in black, to show on points and grid alike.
    const haloed = (path, width = 2) => {
      for (const [colour, w] of [["#fff", width + 3], ["#111", width]]) {
        ctx.strokeStyle = colour; ctx.lineWidth = w; ctx.beginPath(); path(); ctx.stroke();
      }
    };
    if (S.walk && S.walk.path) {
      haloed(() => S.walk.path.forEach((z, k) => {
        const [x, y] = toCanvas(M, ...project(M, z));
        if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      }));
    }
    if (S.walk) {
      for (const [which, n] of [["A", S.walk.a], ["B", S.walk.b]]) {
        if (n == null) continue;
        const [x, y] = toCanvas(M, ...M.points[n]);
        haloed(() => ctx.arc(x, y, 7, 0, 2 * Math.PI));
        ctx.font = "bold 13px system-ui"; ctx.lineWidth = 3; ctx.strokeStyle = "#fff";
        ctx.strokeText(which, x + 9, y - 9); ctx.fillStyle = "#111"; ctx.fillText(which, x + 9, y - 9);
      }
    }
    if (M.marker) {  // the drawn or uploaded image's latent mean
      const [x, y] = toCanvas(M, ...project(M, M.marker));
      ctx.font = "bold 24px system-ui"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.lineWidth = 4; ctx.strokeStyle = "#fff"; ctx.strokeText("✚", x, y);
      ctx.fillStyle = "#c000c0"; ctx.fillText("✚", x, y);
      ctx.textAlign = "start"; ctx.textBaseline = "alphabetic";
    }
    if (S.z) {  // the current point: a crosshair
      const [x, y] = toCanvas(M, ...project(M, S.z));
      haloed(() => { ctx.moveTo(x - 11, y); ctx.lineTo(x - 4, y); ctx.moveTo(x + 4, y); ctx.lineTo(x + 11, y);
                     ctx.moveTo(x, y - 11); ctx.lineTo(x, y - 4); ctx.moveTo(x, y + 4); ctx.lineTo(x, y + 11); }, 1.5);
    }
  }

  function buildLegend(M) {
    const box = $("legend");
    box.textContent = "";
    const counts = new Map();
    for (const l of M.labels) counts.set(l, (counts.get(l) || 0) + 1);
    [...counts.keys()].sort((a, b) => a - b).forEach((label) => {
      const item = document.createElement("span");
      const dot = document.createElement("i");
      dot.style.background = colourOf(label);
      item.append(dot, document.createTextNode(`${label < 0 ? "no label" : label} (${counts.get(label)})`));
      item.title = "click to hide or show";
      item.addEventListener("click", () => {
        if (M.hidden.has(label)) M.hidden.delete(label); else M.hidden.add(label);
        item.classList.toggle("dim", M.hidden.has(label));
        drawMap();
      });
      box.appendChild(item);
    });
  }

  function nestedImage(data, offset, scale) {  // flat pixels -> [H][W][C], values rounded to 1e-5
    const [H, W, C] = S.shape;
    const rows = [];
    for (let y = 0, p = offset; y < H; y += 1) {
      const row = [];
      for (let x = 0; x < W; x += 1) {
        const px = [];
        for (let c = 0; c < C; c += 1, p += 1) px.push(Math.round(data[p] * scale * 1e5) / 1e5);
        row.push(px);
      }
      rows.push(row);
    }
    return rows;
  }

  async function loadMap(gen) {
    setStatus("encoding the test images", "busy");
    const [H, W, C] = S.shape, size = H * W * C;
    let pixels, labels, scale, caption;
    try {
      const test = await getJSON(`/v1/keras_gen/models/${encodeURIComponent(S.entry.name)}/testset?version=${S.version}`);
      const raw = atob(test.pixels);
      pixels = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i += 1) pixels[i] = raw.charCodeAt(i);
      labels = test.labels;
      scale = 1 / 255;
      caption = `${test.count} ${test.dataset} test images (${test.source_name || test.source})`;
    } catch (err) {  // no test set here: the prior's own samples, unlabelled
      const n = 300;
      const images = toImages(await predict("sample", S.K ? { seed: range(n), label: range(n).map((i) => i % S.K) }
                                                          : { seed: range(n) }));
      pixels = new Float32Array(n * size);
      images.forEach((im, k) => pixels.set(im, k * size));
      labels = S.K ? range(n).map((i) => i % S.K) : range(n).map(() => -1);
      scale = 1;
      caption = `${n} samples of the model (no test images: ${err.message})`;
    }
    if (gen !== S.gen) return;
    const n = labels.length;
    const inputs = { images: range(n).map((k) => nestedImage(pixels, k * size, scale)) };
    if (S.K) inputs.label = labels.map((l) => clamp(l, 0, S.K - 1));
    const encoded = await predict("encode", inputs);
    if (gen !== S.gen) return;
    const M = {
      n, pixels, labels, scale, means: encoded.z_mean.map((z) => Float64Array.from(z)), hidden: new Set(),
      marker: null, ax: 0, ay: 1,
    };
    M.pca = S.d > 2 ? pcaAxes(M.means, S.d) : null;
    M.center = M.pca ? M.pca.center : Float64Array.from(range(S.d), (i) => M.means.reduce((s, z) => s + z[i], 0) / n);
    M.axes = axisOptions(M);
    for (const id of ["axis-x", "axis-y"]) {
      const select = $(id);
      select.textContent = "";
      M.axes.forEach((a, k) => select.appendChild(new Option(a.label, String(k))));
    }
    $("axis-x").value = "0";
    $("axis-y").value = "1";
    S.map = M;
    $("map-caption").textContent = `${caption}; latent means, coloured by class`;
    layoutMap(M);
    buildLegend(M);
    const other = M.labels.findIndex((l) => l !== M.labels[0]);
    S.walk = { a: 0, b: other > 0 ? other : Math.min(1, n - 1), path: null, images: null };
    paintTest($("walk-a"), S.walk.a);
    paintTest($("walk-b"), S.walk.b);
    drawMap();
    if ($("grid-overlay").checked) await drawGrid();
  }

  function paintTest(canvas, n) {
    const M = S.map, size = S.shape[0] * S.shape[1] * S.shape[2];
    paint(canvas.getContext("2d"), M.pixels, S.shape, 0, 0, canvas.width, canvas.height,
          { offset: n * size, scale: M.scale * 255 });
  }

  let gridToken = 0;
  async function drawGrid() {
    const M = S.map, canvas = $("map-grid"), ctx = canvas.getContext("2d");
    const token = ++gridToken;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!M || !$("grid-overlay").checked) return;
    const cells = parseInt($("grid-size").value, 10);
    const cw = (canvas.width - 2 * MAP_PAD) / cells, chh = (canvas.height - 2 * MAP_PAD) / cells;
    const zs = [], where = [];
    for (let r = 0; r < cells; r += 1) {
      for (let q = 0; q < cells; q += 1) {
        const x = MAP_PAD + (q + 0.5) * cw, y = MAP_PAD + (r + 0.5) * chh;
        zs.push(unproject(M, ...fromCanvas(M, x, y)));
        where.push([MAP_PAD + q * cw, MAP_PAD + r * chh]);
      }
    }
    const images = await generate(zs);
    if (token !== gridToken || M !== S.map) return;
    images.forEach((im, k) => paint(ctx, im, S.shape, where[k][0], where[k][1], cw, chh));
  }

  function nearestPoint(M, x, y, radius = 10) {
    let best = -1, bestD = radius * radius;
    M.points.forEach(([u, v], n) => {
      if (M.hidden.has(M.labels[n])) return;
      const [px, py] = toCanvas(M, u, v);
      const dd = (px - x) ** 2 + (py - y) ** 2;
      if (dd < bestD) { bestD = dd; best = n; }
    });
    return best;
  }

  // An event's position in a canvas' own pixels (inside its border, whatever its CSS size).
  function canvasPoint(ev, c = $("map")) {
    const r = c.getBoundingClientRect();
    return [(ev.clientX - r.left - c.clientLeft) * c.width / c.clientWidth,
            (ev.clientY - r.top - c.clientTop) * c.height / c.clientHeight];
  }

  let dragging = false, picking = null;
  function mapDown(ev) {
    const M = S.map;
    if (!M) return;
    const [x, y] = canvasPoint(ev);
    if (picking) {
      const n = nearestPoint(M, x, y, 25);
      const which = picking.toUpperCase();
      if (n < 0) {  // a miss keeps the pick going, and says so
        setStatus(`no test image within 25 pixels of that click: click on a point for ${which}`);
        return;
      }
      S.walk[picking] = n;
      paintTest($(`walk-${picking}`), n);
      S.walk.path = null;
      drawMap();
      $(`pick-${picking}`).classList.remove("active");
      picking = null;
      setStatus(`${which} is test image #${n}; walk from #${S.walk.a} to #${S.walk.b} with Walk`);
      return;
    }
    dragging = true;
    $("map").setPointerCapture(ev.pointerId);
    decodeAt(x, y);
  }
  function decodeAt(x, y) {
    const M = S.map;
    const [u, v] = fromCanvas(M, x, y);
    S.mapClick = { x, y, u, v };
    setZ(unproject(M, u, v), { fromMap: true });
    drawMap();
  }
  function mapMove(ev) {
    const M = S.map;
    if (!M) return;
    const [x, y] = canvasPoint(ev);
    if (dragging) { decodeAt(x, y); hideTooltip(); return; }
    const n = nearestPoint(M, x, y);
    const tip = $("map-tooltip");
    if (n < 0) { hideTooltip(); return; }
    const ctx = tip.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, tip.width, tip.height);
    const size = S.shape[0] * S.shape[1] * S.shape[2];
    paint(ctx, M.pixels, S.shape, 6, 6, 84, 84, { offset: n * size, scale: M.scale * 255 });
    ctx.fillStyle = "#111";
    ctx.font = "12px system-ui";
    ctx.fillText(`${M.labels[n] < 0 ? "test" : "class " + M.labels[n]} · #${n}`, 6, 106);
    const wrap = $("map-wrap").getBoundingClientRect(), c = $("map").getBoundingClientRect();
    const cx = ev.clientX - wrap.left, cy = ev.clientY - wrap.top;
    tip.style.left = `${cx + tip.width + 16 > c.width ? cx - tip.width - 12 : cx + 12}px`;
    tip.style.top = `${cy + tip.height + 16 > c.height ? cy - tip.height - 12 : cy + 12}px`;
    tip.hidden = false;
  }
  function hideTooltip() { $("map-tooltip").hidden = true; }

  async function walk() {
    const M = S.map;
    if (!M || !S.walk) return;
    const steps = clamp(parseInt($("walk-steps").value, 10) || 10, 2, 64);
    const mode = checkedValue("walk-mode");
    const path = pathOf(mode)(Array.from(M.means[S.walk.a]), Array.from(M.means[S.walk.b]), steps);
    const label = S.K ? S.label : null;
    const images = await generate(path);
    stopAnimation("walk");
    Object.assign(S.walk, { path, images, mode, label });
    paintStrip($("walk-strip"), images, Math.max(28, Math.min(56, Math.floor(560 / steps))));
    drawMap();
  }

  function playWalk() {
    if (!S.walk || !S.walk.images) return;
    playFrames("walk", S.walk.images.length, (k) => {
      S.z = S.walk.path[k].slice();
      syncSliders();
      paintMain(S.walk.images[k]);
      drawMap();
    });
  }

  // -- drawing pad and uploads
  function setupPad() {
    const pad = $("draw"), ctx = pad.getContext("2d");
    const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); };
    clear();
    let drawing = false, last = null;
    const point = (ev) => canvasPoint(ev, pad);
    pad.addEventListener("pointerdown", (ev) => { drawing = true; last = point(ev); pad.setPointerCapture(ev.pointerId); stroke(last); });
    pad.addEventListener("pointermove", (ev) => { if (drawing) stroke(point(ev)); });
    const end = () => { if (drawing) { drawing = false; encodePad(true).catch(fail); } };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    function stroke(p) {
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 16; ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...p); ctx.stroke();
      last = p;
    }
    $("draw-clear").addEventListener("click", () => {
      clear();
      if (S.map) { S.map.marker = null; drawMap(); }
      for (const id of ["draw-input", "draw-recon"]) { const c = $(id); c.getContext("2d").clearRect(0, 0, c.width, c.height); }
    });
    $("draw-encode").addEventListener("click", guard(() => encodePad(true)));
    $("upload").addEventListener("change", guard(async () => {
      const file = $("upload").files[0];
      if (!file) return;
      const bitmap = await createImageBitmap(file);
      clear();
      const s = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
      const w = bitmap.width * s, h = bitmap.height * s;
      ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      if ($("upload-invert").checked) {
        const im = ctx.getImageData(0, 0, pad.width, pad.height);
        for (let i = 0; i < im.data.length; i += 4) for (let c = 0; c < 3; c += 1) im.data[i + c] = 255 - im.data[i + c];
        ctx.putImageData(im, 0, 0);
      }
      await encodePad(S.shape[2] === 1);
    }));
  }

  // The pad as the model's input: for one-channel models prepared as MNIST's digits were (below),
  // else the whole pad resized.
  function padImage(centre) {
    const pad = $("draw"), [H, W, C] = S.shape;
    let sx = 0, sy = 0, sw = pad.width, sh = pad.height;
    if (centre) {
      const data = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
      let x0 = pad.width, x1 = -1, y0 = pad.height, y1 = -1;
      for (let y = 0; y < pad.height; y += 1) {
        for (let x = 0; x < pad.width; x += 1) {
          const i = 4 * (y * pad.width + x);
          if (data[i] + data[i + 1] + data[i + 2] > 60) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
        }
      }
      if (x1 >= 0) { sx = x0; sy = y0; sw = x1 - x0 + 1; sh = y1 - y0 + 1; }
    }
    const out = document.createElement("canvas");
    out.width = W;
    out.height = H;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    if (centre) {
      // MNIST's preparation (LeCun et al.): the ink's bounding box scaled, aspect kept, into the
      // central 20x20 of 28x28; then the image moved so that its centre of mass is the frame's centre.
      const box = 20 / 28, s = Math.min(box * W / sw, box * H / sh);
      const boxed = document.createElement("canvas");
      boxed.width = W;
      boxed.height = H;
      const bctx = boxed.getContext("2d");
      bctx.imageSmoothingEnabled = true;
      bctx.imageSmoothingQuality = "high";
      bctx.drawImage(pad, sx, sy, sw, sh, (W - sw * s) / 2, (H - sh * s) / 2, sw * s, sh * s);
      const ink = bctx.getImageData(0, 0, W, H).data;
      let mass = 0, mx = 0, my = 0;
      for (let y = 0; y < H; y += 1) {
        for (let x = 0; x < W; x += 1) {
          const v = ink[4 * (y * W + x)] + ink[4 * (y * W + x) + 1] + ink[4 * (y * W + x) + 2];
          mass += v; mx += v * (x + 0.5); my += v * (y + 0.5);
        }
      }
      const dx = mass > 0 ? Math.round(W / 2 - mx / mass) : 0, dy = mass > 0 ? Math.round(H / 2 - my / mass) : 0;
      ctx.drawImage(boxed, dx, dy);
    } else {
      ctx.drawImage(pad, 0, 0, W, H);
    }
    const rgba = ctx.getImageData(0, 0, W, H).data;
    const flat = new Float32Array(H * W * C);
    for (let i = 0; i < H * W; i += 1) {
      if (C === 1) flat[i] = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
      else for (let c = 0; c < C; c += 1) flat[i * C + c] = rgba[4 * i + c] / 255;
    }
    return flat;
  }

  async function encodePad(centre) {
    if (S.family !== "vae") return;
    const flat = padImage(centre);
    const images = [nestedImage(flat, 0, 1)];
    const withLabel = (inputs) => (S.K ? { ...inputs, label: [S.label] } : inputs);
    const encoded = await predict("encode", withLabel({ images }));
    const recon = toImages(await predict("reconstruct", withLabel({ images })))[0];
    paint($("draw-input").getContext("2d"), flat, S.shape, 0, 0, 84, 84);
    paint($("draw-recon").getContext("2d"), recon, S.shape, 0, 0, 84, 84);
    const mean = encoded.z_mean[0];
    if (S.map) S.map.marker = mean.slice();
    S.drawn = { mean, recon, input: Array.from(flat) };  // input: what the model was given, [H*W*C] in [0, 1]
    setZ(mean);
  }

  // ------------------------------------------------------------------ choosing a model
  function describe(meta) {
    const [H, W, C] = meta.image_shape;
    const classes = meta.num_classes ? `, ${meta.num_classes} classes` : "";
    return `${meta.family}, latent ${meta.latent_dim}, ${H}×${W}×${C}${classes}, ${meta.steps_trained} steps`;
  }

  async function selectModel(name, version = null, urlState = null) {
    const gen = ++S.gen;
    document.body.dataset.state = "loading";
    stopAnimation("interp");
    stopAnimation("walk");
    const entry = S.models.find((m) => m.name === name) || S.models[0];
    const v = entry.versions.find((x) => x.version === String(version)) || entry.versions.find((x) => x.keras_gen);
    Object.assign(S, {
      entry, version: v.version, meta: v.keras_gen, maxBatch: v.max_batch, family: v.keras_gen.family,
      d: v.keras_gen.latent_dim, shape: v.keras_gen.image_shape, K: v.keras_gen.num_classes || null,
      sigs: new Set(v.keras_gen.signatures || []), sensitivity: null, map: null, walk: null, interp: null,
      locks: [], focus: 0, z: null, mainImage: null,
    });
    $("model").value = entry.name;
    const vs = $("version");
    vs.textContent = "";
    entry.versions.filter((x) => x.keras_gen).forEach((x) => vs.appendChild(new Option(x.version, x.version)));
    vs.value = S.version;
    $("model-info").textContent = describe(S.meta);
    $("family-badge").textContent = S.K ? `conditional ${S.family}` : S.family;
    document.body.dataset.family = S.family;
    $("panel-map").hidden = S.family !== "vae";
    $("class-panel").hidden = !S.K;
    const cls = $("class");
    cls.textContent = "";
    if (S.K) range(S.K).forEach((k) => cls.appendChild(new Option(String(k), String(k))));
    for (const id of ["strips", "class-row", "legend"]) $(id).textContent = "";
    for (const id of ["map", "map-grid", "walk-strip", "interp-strip", "interp-anim"]) {
      const c = $(id); c.getContext("2d").clearRect(0, 0, c.width, c.height);
    }
    setStatus(`loading ${entry.name}`, "busy");

    const prior = await latents(range(PRIOR_SEEDS));
    if (gen !== S.gen) return;
    S.mean = range(S.d).map((i) => prior.reduce((s, z) => s + z[i], 0) / prior.length);
    S.std = range(S.d).map((i) => Math.sqrt(prior.reduce((s, z) => s + (z[i] - S.mean[i]) ** 2, 0) / prior.length) || 1);
    buildSliders();

    const state = urlState || {};
    S.label = S.K && Number.isInteger(state.label) ? clamp(state.label, 0, S.K - 1) : 0;
    if (S.K) cls.value = String(S.label);
    const seed = Number.isInteger(state.seed) && state.seed >= INT32_MIN && state.seed <= INT32_MAX ? state.seed : 0;
    const [seedZ] = await latents([seed]);
    if (gen !== S.gen) return;
    S.seed = seed;
    S.seedZ = Array.from(seedZ);
    $("seed").value = String(seed);
    S.locks = range(S.d).map((i) => (state.lock || []).includes(i));
    setZ(state.z && state.z.length === S.d ? state.z : S.seedZ.slice());
    if (S.family === "vae") await loadMap(gen);
    if (gen !== S.gen) return;
    maybeAutoRank();
    await interpolateSeeds();
    if (S.map) await walk();
    await new Promise((resolve) => { const wait = () => (renderBusy || renderPending ? setTimeout(wait, 30) : resolve()); wait(); });
    if (gen !== S.gen) return;
    document.body.dataset.state = "ready";
    setStatus("ready");
    readyResolve();
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("model").addEventListener("change", guard(() => selectModel($("model").value)));
    $("version").addEventListener("change", guard(() => selectModel(S.entry.name, $("version").value)));
    $("go-seed").addEventListener("click", guard(() => goToSeed(readSeed($("seed")))));
    $("seed").addEventListener("keydown", (ev) => { if (ev.key === "Enter") guard(() => goToSeed(readSeed($("seed"))))(); });
    $("randomise").addEventListener("click", guard(() => goToSeed(Math.floor(Math.random() * INT32_MAX))));
    $("reset").addEventListener("click", () => { if (S.seedZ) setZ(S.seedZ.slice()); });
    $("zero").addEventListener("click", () => setZ(S.z.map((v, i) => (S.locks[i] ? v : S.mean[i]))));
    $("class").addEventListener("change", () => setLabel(parseInt($("class").value, 10)));
    $("download").addEventListener("click", () => downloadCanvas($("main-image"), `${S.entry.name}_seed${S.seed}${S.K ? "_class" + S.label : ""}.png`));
    $("copy-link").addEventListener("click", guard(async () => {
      updateURL();
      try { await navigator.clipboard.writeText(location.href); setStatus("link copied"); } catch (e) { window.prompt("Link to this view:", location.href); }
    }));
    $("slider-order").addEventListener("change", orderSliders);
    $("slider-filter").addEventListener("input", orderSliders);
    $("rank").addEventListener("click", guard(rankSensitivity));
    $("strip-count").addEventListener("change", guard(refreshStrips));
    $("strip-steps").addEventListener("change", guard(refreshStrips));
    $("interp").addEventListener("click", guard(interpolateSeeds));
    $("interp-play").addEventListener("click", () => {
      const I = S.interp;
      if (!I) return;
      const anim = $("interp-anim");
      playFrames("interp", I.images.length, (k) => paint(anim.getContext("2d"), I.images[k], S.shape, 0, 0, anim.width, anim.height));
    });
    $("interp-png").addEventListener("click", () => {
      if (S.interp) downloadCanvas($("interp-strip"), `${S.entry.name}_seeds${S.interp.a}-${S.interp.b}_${S.interp.mode}.png`);
    });
    $("interp-gif").addEventListener("click", () => {
      if (S.interp) downloadGif(S.interp.images, `${S.entry.name}_seeds${S.interp.a}-${S.interp.b}_${S.interp.mode}.gif`);
    });
    $("walk-gif").addEventListener("click", () => {
      if (S.walk && S.walk.images) downloadGif(S.walk.images, `${S.entry.name}_walk${S.walk.a}-${S.walk.b}_${S.walk.mode}.gif`);
    });
    const map = $("map");
    map.addEventListener("pointerdown", (ev) => { try { mapDown(ev); } catch (err) { fail(err); } });
    map.addEventListener("pointermove", (ev) => { try { mapMove(ev); } catch (err) { fail(err); } });
    map.addEventListener("pointerup", () => { dragging = false; });
    map.addEventListener("pointerleave", hideTooltip);
    for (const id of ["axis-x", "axis-y"]) {
      $(id).addEventListener("change", guard(async () => {
        const M = S.map;
        if (!M) return;
        let ax = parseInt($("axis-x").value, 10), ay = parseInt($("axis-y").value, 10);
        if (ax === ay) { ay = (ax + 1) % M.axes.length; $("axis-y").value = String(ay); }
        Object.assign(M, { ax, ay });
        layoutMap(M);
        drawMap();
        await drawGrid();
      }));
    }
    $("grid-overlay").addEventListener("change", guard(async () => { drawMap(); await drawGrid(); }));
    $("grid-size").addEventListener("change", guard(drawGrid));
    for (const which of ["a", "b"]) {
      $(`pick-${which}`).addEventListener("click", () => {
        picking = which;
        $(`pick-${which}`).classList.add("active");
        setStatus(`click a test image on the map for ${which.toUpperCase()}`);
      });
    }
    $("walk").addEventListener("click", guard(walk));
    $("walk-play").addEventListener("click", playWalk);
    setupPad();
  }

  async function init() {
    wire();
    try { S.config = await getJSON("/v1/keras_gen/config"); } catch (e) { S.config = {}; }
    const listing = await getJSON("/v1/keras_gen/models");
    S.models = listing.models.filter((m) => m.versions.some((v) => v.keras_gen));
    const select = $("model");
    for (const m of listing.models) {
      const v = m.versions.find((x) => x.keras_gen);
      const option = new Option(v ? `${m.name} — ${describe(v.keras_gen)}` : `${m.name} (no keras_gen.json)`, m.name);
      option.disabled = !v;
      select.appendChild(option);
    }
    if (!S.models.length) { setStatus("no keras_gen exports under this server's root", "error"); return; }
    const state = readURL();
    await selectModel(state.model || S.models[0].name, state.version, state);
  }

  document.addEventListener("DOMContentLoaded", () => { init().catch(fail); });
})();
