"use strict";
// Soko visual search page: words, a photo, or a product in; a grid of similar products out.
const $ = (id) => document.getElementById(id);
const MAX_UPLOAD_SIDE = 768;   // the model looks at 224 px; smaller uploads help slow links
const price = new Intl.NumberFormat("en-KE", { style: "currency", currency: "KES", maximumFractionDigits: 0 });

function show(message, isError = false) {
  $("error").hidden = !isError;
  if (isError) { $("error").textContent = message; $("status").textContent = ""; }
  else { $("status").textContent = message; }
}

async function api(url, options) {
  const started = performance.now();
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return { body, ms: Math.round(performance.now() - started) };
}

function filters() {
  const category = $("category").value;
  return category ? `&category=${encodeURIComponent(category)}` : "";
}

function card(product) {
  const li = document.createElement("li");
  li.className = "card";
  li.tabIndex = 0;
  li.dataset.productId = product.product_id;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.decoding = "async";
  img.alt = product.product_name;
  img.src = product.thumbnail_url || product.image_url;
  img.addEventListener("error", () => img.classList.add("missing"), { once: true });
  const body = document.createElement("div");
  body.className = "body";
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = product.product_name;
  const meta = document.createElement("div");
  meta.className = "meta";
  const cost = document.createElement("span");
  cost.className = "price";
  cost.textContent = price.format(product.price);
  const score = document.createElement("span");
  score.className = "score";
  score.title = "similarity score";
  score.textContent = product.score.toFixed(2);
  meta.append(cost, score);
  const category = document.createElement("div");
  category.className = "meta";
  category.textContent = product.category;
  body.append(name, meta, category);
  li.append(img, body);
  li.addEventListener("click", () => openProduct(product.product_id, true));
  li.addEventListener("keydown", (e) => { if (e.key === "Enter") openProduct(product.product_id, true); });
  return li;
}

function render(products, label, ms) {
  $("results").replaceChildren(...products.map(card));
  show(products.length ? `${products.length} ${label} · ${ms} ms` : `No ${label}.`);
}

async function textSearch(q) {
  $("selected").hidden = true;
  try {
    const { body, ms } = await api(`/api/search?q=${encodeURIComponent(q)}&limit=24${filters()}`);
    render(body, "products", ms);
  } catch (e) { show(e.message, true); }
}

async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, MAX_UPLOAD_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 512 * 1024) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob((b) => resolve(b || file), "image/jpeg", 0.88));
  } catch { return file; }   // formats the browser cannot draw go up as they are
}

async function photoSearch(file) {
  if (!file) return;
  $("selected").hidden = true;
  $("preview").src = URL.createObjectURL(file);
  $("preview").hidden = false;
  show("Searching…");
  const form = new FormData();
  form.append("image", await shrink(file), file.name || "photo.jpg");
  const words = $("q").value.trim();
  if (words) form.append("text", words);
  const category = $("category").value;
  if (category) form.append("category", category);
  form.append("limit", "24");
  try {
    const { body, ms } = await api("/api/search/image", { method: "POST", body: form });
    render(body, "similar products", ms);
  } catch (e) { show(e.message, true); }
}

async function openProduct(id, push) {
  if (push) history.pushState({ product: id }, "", `/?product=${id}`);
  $("preview").hidden = true;
  try {
    const [{ body: product }, { body: similar, ms }] = await Promise.all([
      api(`/api/products/${id}`),
      api(`/api/products/similar/${id}?limit=24&threshold=0${filters()}`),
    ]);
    const panel = $("selected");
    panel.replaceChildren();
    const img = document.createElement("img");
    img.src = product.image_url;
    img.alt = product.product_name;
    const text = document.createElement("div");
    const h1 = document.createElement("h1");
    h1.textContent = product.product_name;
    const p1 = document.createElement("p");
    p1.textContent = `${price.format(product.price)} · ${product.category} · seller ${product.seller_id}`;
    const p2 = document.createElement("p");
    p2.textContent = product.description || "";
    text.append(h1, p1, p2);
    panel.append(img, text);
    panel.hidden = false;
    render(similar, "similar products", ms);
    window.scrollTo({ top: 0, behavior: "smooth" });
  } catch (e) { show(e.message, true); }
}

async function loadCategories() {
  try {
    const { body } = await api("/api/categories");
    for (const name of body) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      $("category").append(option);
    }
  } catch { /* the filter stays at "All categories" */ }
}

function route() {
  const params = new URLSearchParams(location.search);
  if (params.get("product")) openProduct(params.get("product"), false);
  else if (params.get("q")) { $("q").value = params.get("q"); textSearch(params.get("q")); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim();
    if (!q) return;
    history.pushState({}, "", `/?q=${encodeURIComponent(q)}`);
    textSearch(q);
  });
  $("photo").addEventListener("change", () => photoSearch($("photo").files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    photoSearch(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter") $("photo").click(); });
  window.addEventListener("popstate", route);
  loadCategories();
  route();
});
