/* The entry editor (issue 5): a Markdown toolbar, a live preview rendered by the server's sanitizer,
   autosave of unsaved text in this browser, and image uploads. Progressive enhancement: without
   this script the editor is a plain textarea that saves as before. Every word shown here comes from
   data-* attributes the server rendered, so it is translated like the rest of the page. */
"use strict";

(() => {
  const PREVIEW_DELAY_MS = 400;   // debounce: render once the writer pauses
  const AUTOSAVE_DELAY_MS = 500;  // keep the draft soon after each change, without writing per keystroke
  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

  const root = document.getElementById("editor");
  if (!root || !window.fetch) {
    return;
  }
  const form = root.closest("form");
  const body = document.getElementById(root.dataset.bodyId);
  const toolbar = root.querySelector(".editor-toolbar");
  const previewPane = root.querySelector(".editor-preview");
  const preview = document.getElementById("preview");
  const previewButton = root.querySelector('[data-action="preview"]');
  const fileInput = document.getElementById("attachment-input");
  const status = document.getElementById("editor-status");
  const draftStatus = document.getElementById("draft-status");  // not a live region: it changes often
  const msg = root.dataset;
  if (!form || !body || !toolbar || !preview) {
    return;
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (match, name) => (name in values ? values[name] : match));
  }

  function say(text) {
    status.textContent = text || "";
  }

  function csrfToken() {
    const field = form.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  /* ---- editing the textarea ------------------------------------------------------------------ */

  // execCommand keeps the browser's undo history (Ctrl+Z undoes a toolbar action); setRangeText is
  // the fallback where it is missing.
  function replaceSelection(text, selectFrom, selectTo) {
    const start = body.selectionStart;
    body.focus();
    let done = false;
    try {
      done = document.execCommand("insertText", false, text);
    } catch (error) {
      done = false;
    }
    if (!done || body.value.substr(start, text.length) !== text) {
      body.setRangeText(text, start, body.selectionEnd, "end");
      body.dispatchEvent(new Event("input", {bubbles: true}));
    }
    if (selectFrom !== undefined) {
      body.setSelectionRange(start + selectFrom, start + selectTo);
    }
  }

  function selected() {
    return body.value.slice(body.selectionStart, body.selectionEnd);
  }

  function wrap(before, after, placeholder) {
    const text = selected() || placeholder;
    replaceSelection(before + text + after, before.length, before.length + text.length);
  }

  // Applies a prefix to every line the selection touches (or the cursor's line).
  function prefixLines(prefixFor, placeholder) {
    const value = body.value;
    const start = value.lastIndexOf("\n", body.selectionStart - 1) + 1;
    let end = value.indexOf("\n", body.selectionEnd > body.selectionStart ? body.selectionEnd - 1 : body.selectionEnd);
    if (end === -1) {
      end = value.length;
    }
    body.setSelectionRange(start, end);
    const lines = (value.slice(start, end) || placeholder).split("\n");
    const text = lines.map((line, i) => prefixFor(i) + line).join("\n");
    replaceSelection(text, 0, text.length);
  }

  // Starts a block (a table) on a line of its own, with a blank line around it.
  function insertBlock(block) {
    const before = body.value.slice(0, body.selectionStart);
    const lead = before === "" || before.endsWith("\n\n") ? "" : (before.endsWith("\n") ? "\n" : "\n\n");
    replaceSelection(lead + block + "\n", lead.length, lead.length + block.length);
  }

  const actions = {
    bold: () => wrap("**", "**", msg.msgBold),
    italic: () => wrap("*", "*", msg.msgItalic),
    heading: () => prefixLines(() => "## ", msg.msgHeading),
    list: () => prefixLines(() => "- ", msg.msgItem),
    numbered: () => prefixLines((i) => `${i + 1}. `, msg.msgItem),
    quote: () => prefixLines(() => "> ", msg.msgQuote),
    table: () => {
      const c = msg.msgColumn;
      const v = msg.msgCell;
      insertBlock(`| ${c} | ${c} |\n| --- | --- |\n| ${v} | ${v} |`);
    },
    link: () => {
      const text = selected() || msg.msgLinkText;
      const url = "https://";
      // Select the address, the part still to type.
      replaceSelection(`[${text}](${url})`, text.length + 3, text.length + 3 + url.length);
    },
    wikilink: () => wrap("[[", "]]", msg.msgEntryTitle),
    image: () => fileInput && fileInput.click(),
    preview: () => togglePreview(),
  };

  toolbar.hidden = false;
  const tools = Array.from(toolbar.querySelectorAll("button"));
  tools.forEach((button, i) => {
    button.tabIndex = i === 0 ? 0 : -1;  // one tab stop; arrows move inside (the ARIA toolbar pattern)
  });
  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button && actions[button.dataset.action]) {
      actions[button.dataset.action]();
    }
  });
  toolbar.addEventListener("keydown", (event) => {
    const index = tools.indexOf(document.activeElement);
    if (index === -1) {
      return;
    }
    const moves = {ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tools.length - 1};
    if (!(event.key in moves)) {
      return;
    }
    event.preventDefault();
    const next = tools[(moves[event.key] + tools.length) % tools.length];
    tools.forEach((button) => { button.tabIndex = -1; });
    next.tabIndex = 0;
    next.focus();
  });
  body.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) {
      return;
    }
    const shortcut = {b: "bold", i: "italic", k: "link"}[event.key.toLowerCase()];
    if (shortcut) {
      event.preventDefault();
      actions[shortcut]();
    }
  });

  /* ---- live preview ------------------------------------------------------------------------- */

  let previewing = false;
  let previewTimer = null;
  let previewRequest = null;
  let previewed = null;

  function togglePreview() {
    previewing = !previewing;
    previewPane.hidden = !previewing;
    root.classList.toggle("is-previewing", previewing);
    previewButton.setAttribute("aria-pressed", String(previewing));
    if (previewing) {
      refreshPreview();
    } else if (window.matchMedia("(max-width: 760px)").matches) {
      body.focus();  // on a phone the textarea comes back in place of the preview
    }
  }

  async function refreshPreview() {
    window.clearTimeout(previewTimer);
    const text = body.value;
    if (text === previewed) {
      return;
    }
    if (!text.trim()) {
      previewed = text;
      preview.replaceChildren();
      preview.textContent = msg.msgPreviewEmpty;
      return;
    }
    if (previewRequest) {
      previewRequest.abort();
    }
    previewRequest = new AbortController();
    try {
      const response = await fetch(msg.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        signal: previewRequest.signal,
        headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken()},
        body: JSON.stringify({body: text}),
      });
      const data = await response.json().catch(() => ({}));
      if (response.status === 401) {
        say(msg.msgSignedOut);
        return;
      }
      if (response.status === 413) {
        say(msg.msgPreviewTooLong);
        return;
      }
      if (!response.ok || typeof data.html !== "string") {
        say(msg.msgPreviewFailed);
        return;
      }
      previewed = text;
      // innerHTML is safe here only because this HTML is the server's markup.render() output: Markdown
      // already sanitized by the same bleach allow-list that renders the entry page. Never put
      // anything else into innerHTML.
      preview.innerHTML = data.html;
      if (status.textContent === msg.msgPreviewFailed || status.textContent === msg.msgPreviewTooLong) {
        say("");
      }
    } catch (error) {
      if (error.name !== "AbortError") {
        say(msg.msgPreviewFailed);
      }
    }
  }

  body.addEventListener("input", () => {
    if (previewing) {
      window.clearTimeout(previewTimer);
      previewTimer = window.setTimeout(refreshPreview, PREVIEW_DELAY_MS);
    }
  });

  /* ---- autosave ----------------------------------------------------------------------------- */

  // Kept per user and entry ("new" for a new entry). A save clears it: the draft is marked as
  // submitted, and a later visit that finds the same text on the server (or, for a new entry, the
  // title among the user's entries) knows the save went through. If the server returns the form
  // (an error, a conflict), the draft stays. A draft the writer has not yet decided about is moved
  // to the ":older" slot rather than overwritten, so nothing typed is lost.
  const draftKey = msg.draftKey;
  const olderKey = `${draftKey}:older`;
  const offer = document.getElementById("draft-offer");
  const store = (() => {
    try {
      const probe = "kmwiki:probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (error) {
      return null;  // private mode or storage disabled: the editor works, without autosave
    }
  })();

  function snapshot() {
    const data = new FormData(form);
    const fields = {};
    ["title", "body", "tags", "note", "kind"].forEach((name) => {
      if (form.elements[name]) {
        fields[name] = data.get(name) || "";
      }
    });
    ["products", "segments"].forEach((name) => {
      fields[name] = data.getAll(name);
    });
    return fields;
  }

  function apply(fields) {
    Object.entries(fields).forEach(([name, value]) => {
      const controls = form.querySelectorAll(`[name="${name}"]`);
      controls.forEach((control) => {
        if (control.type === "checkbox" || control.type === "radio") {
          control.checked = Array.isArray(value) ? value.includes(control.value) : control.value === value;
        } else if (typeof value === "string") {
          control.value = value;
        }
      });
    });
    body.dispatchEvent(new Event("input", {bubbles: true}));
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  function read(key) {
    try {
      const draft = JSON.parse(store.getItem(key));
      return draft && draft.fields ? draft : null;
    } catch (error) {
      return null;
    }
  }

  function write(key, draft) {
    try {
      store.setItem(key, JSON.stringify(draft));
      return true;
    } catch (error) {
      return false;  // storage full: the text is still in the form
    }
  }

  const serverFields = snapshot();
  let offered = null;  // the draft shown in the restore offer, not yet restored or discarded
  let offeredKey = null;
  let saveTimer = null;

  function when(time) {
    return new Date(time).toLocaleString(document.documentElement.lang || undefined,
      {dateStyle: "medium", timeStyle: "short"});
  }

  function keepDraft(submitted) {
    const fields = snapshot();
    if (offered && offeredKey === draftKey) {
      write(olderKey, offered);  // the undecided draft moves aside instead of being overwritten
      offeredKey = olderKey;
    }
    if (same(fields, serverFields) && !submitted) {
      store.removeItem(draftKey);  // back to the saved text: nothing unsaved to keep
      return;
    }
    const savedAt = Date.now();
    if (write(draftKey, {v: 1, savedAt, submitted: submitted ? savedAt : null, fields})) {
      if (!submitted && draftStatus) {
        draftStatus.textContent = format(msg.msgDraftSaved, {time: when(savedAt)});
      }
    }
  }

  function showOffer() {
    offered = null;
    offeredKey = null;
    for (const key of [draftKey, olderKey]) {
      const draft = read(key);
      if (draft && same(draft.fields, snapshot())) {
        continue;  // what the form shows already (a restored or re-posted draft)
      }
      if (draft && !same(draft.fields, serverFields)) {
        offered = draft;
        offeredKey = key;
        break;
      }
      if (draft) {
        store.removeItem(key);
      }
    }
    if (!offered) {
      offer.hidden = true;
      return;
    }
    const text = offer.querySelector(".draft-offer-text");
    text.textContent = format(text.dataset.template, {time: when(offered.savedAt)});
    form.prepend(offer);  // at the top of the form, where a returning writer sees it first
    offer.hidden = false;
  }

  function settleDraftsOnLoad() {
    const draft = read(draftKey);
    if (!draft) {
      return;
    }
    if (msg.posted === "1") {
      // The server sent the form back (an error or a conflict): it holds the posted text. Keep the
      // draft alive until a save succeeds.
      draft.submitted = null;
      write(draftKey, draft);
      return;
    }
    if (same(draft.fields, serverFields)) {
      store.removeItem(draftKey);  // saved: the server holds exactly this text
      return;
    }
    let recent = [];
    try {
      recent = JSON.parse(msg.recentTitles || "[]");
    } catch (error) {
      recent = [];
    }
    if (draft.submitted && !msg.entryId && recent.includes(draft.fields.title)) {
      store.removeItem(draftKey);  // a new entry that was saved under this title
    }
  }

  function autosave() {
    saveTimer = null;
    keepDraft(false);
  }

  if (store && draftKey && offer) {
    settleDraftsOnLoad();
    showOffer();
    offer.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-draft]");
      if (!button || !offered) {
        return;
      }
      const key = offeredKey;
      if (button.dataset.draft === "restore") {
        apply(offered.fields);
        offered = null;
        store.removeItem(key);
        keepDraft(false);  // the restored text is now the current unsaved draft
        offer.hidden = true;
        body.focus();
      } else {
        offered = null;
        store.removeItem(key);
        showOffer();
      }
    });
    form.addEventListener("input", () => {
      window.clearTimeout(saveTimer);
      saveTimer = window.setTimeout(autosave, AUTOSAVE_DELAY_MS);
    });
    form.addEventListener("change", () => {
      window.clearTimeout(saveTimer);
      saveTimer = window.setTimeout(autosave, AUTOSAVE_DELAY_MS);
    });
    form.addEventListener("submit", () => {
      window.clearTimeout(saveTimer);
      saveTimer = null;
      keepDraft(true);
    });
    // Leaving the page before the debounce fired must not drop the last keystrokes.
    window.addEventListener("pagehide", () => {
      if (saveTimer) {
        window.clearTimeout(saveTimer);
        saveTimer = null;
        keepDraft(false);
      }
    });
  }

  /* ---- image uploads ------------------------------------------------------------------------ */

  async function upload(file) {
    if (!file || !IMAGE_TYPES.includes(file.type)) {
      say(msg.msgUploadFailed);
      return;
    }
    if (file.size > Number(msg.maxBytes)) {
      say(msg.msgTooLarge);
      return;
    }
    const name = file.name || "image";
    say(format(msg.msgUploading, {name}));
    const data = new FormData();
    data.append("file", file, name);
    if (msg.entryId) {
      data.append("entry_id", msg.entryId);
    }
    try {
      const response = await fetch(msg.uploadUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {Accept: "application/json", "X-CSRFToken": csrfToken()},
        body: data,
      });
      const result = await response.json().catch(() => ({}));
      if (response.status === 401) {
        say(msg.msgSignedOut);
        return;
      }
      if (!response.ok || typeof result.markdown !== "string") {
        // The server's message is translated and says why (too large, not an image …).
        say((result.error && result.error.message) || msg.msgUploadFailed);
        return;
      }
      replaceSelection(result.markdown);
      say(format(msg.msgUploaded, {name}));
    } catch (error) {
      say(msg.msgUploadFailed);
    }
  }

  if (fileInput) {
    fileInput.addEventListener("change", () => {
      const file = fileInput.files && fileInput.files[0];
      fileInput.value = "";
      upload(file);
    });
  }
  body.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || [])
      .filter((file) => IMAGE_TYPES.includes(file.type));
    if (files.length) {
      event.preventDefault();
      files.forEach(upload);
    }
  });
  body.addEventListener("dragover", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
      event.preventDefault();
      root.classList.add("is-dropping");
    }
  });
  body.addEventListener("dragleave", () => root.classList.remove("is-dropping"));
  body.addEventListener("drop", (event) => {
    root.classList.remove("is-dropping");
    const files = Array.from((event.dataTransfer && event.dataTransfer.files) || []);
    if (files.length) {
      event.preventDefault();
      body.focus();
      files.forEach(upload);
    }
  });

  /* ---- tag suggestions ---------------------------------------------------------------------- */

  // A <datalist> matches the whole input; tags are a list, so offer "what you typed, + a tag".
  const tagInput = form.elements.tags;
  const tagList = document.getElementById("tag-suggestions");
  if (tagInput && tagList) {
    const known = Array.from(tagList.options).map((option) => option.value);
    tagInput.addEventListener("input", () => {
      const parts = tagInput.value.split(/[,，、;；]/);
      const last = parts.pop().trim().toLowerCase();
      const chosen = new Set(parts.map((part) => part.trim()));
      const head = parts.length ? `${parts.map((part) => part.trim()).join(", ")}, ` : "";
      const matches = known.filter((tag) => !chosen.has(tag) && tag.toLowerCase().includes(last)).slice(0, 12);
      tagList.replaceChildren(...matches.map((tag) => {
        const option = document.createElement("option");
        option.value = head + tag;
        return option;
      }));
    });
  }
})();
