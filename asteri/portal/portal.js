(() => {
  const input = document.getElementById("q"), list = document.getElementById("hits");
  if (!input || !list) return;
  let timer = 0, asked = 0, selected = -1;
  const links = () => Array.from(list.querySelectorAll("a"));
  const select = (i) => {
    const all = links();
    selected = Math.max(-1, Math.min(i, all.length - 1));
    all.forEach((a, n) => a.setAttribute("aria-selected", String(n === selected)));
    if (selected >= 0) all[selected].focus(); else input.focus();
  };
  const show = (hits) => {
    list.replaceChildren(...hits.map((hit) => {
      const li = document.createElement("li"), a = document.createElement("a");
      li.setAttribute("role", "presentation");
      a.href = hit.url; a.setAttribute("role", "option"); a.setAttribute("aria-selected", "false");
      const kind = document.createElement("span"); kind.className = "kind"; kind.textContent = hit.kind;
      const title = document.createElement("strong"); title.textContent = hit.title;
      const snippet = document.createElement("div");
      snippet.innerHTML = hit.snippet; // HTML-escaped by the server, matches in <mark>
      a.append(kind, title, snippet); li.append(a); return li;
    }));
    input.setAttribute("aria-expanded", String(hits.length > 0)); selected = -1;
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { show([]); return; }
    timer = setTimeout(async () => {
      const mine = ++asked;
      const answer = await fetch("/api/public/v1/search?limit=8&q=" + encodeURIComponent(q));
      if (mine !== asked || !answer.ok) return;
      show((await answer.json()).data);
    }, 120);
  });
  const keys = (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); select(selected + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); select(selected - 1); }
    else if (event.key === "Escape") { show([]); input.focus(); }
  };
  input.addEventListener("keydown", keys);
  list.addEventListener("keydown", keys);
})();
(() => {
  // The portal's GraphiQL form: the credentials travel in the fragment, never to a server.
  const form = document.getElementById("graphiql-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fragment = new URLSearchParams({
      "x-api-key": document.getElementById("graphiql-key").value.trim(),
      "x-organization-id": document.getElementById("graphiql-org").value.trim(),
    });
    window.location.assign(form.action + "#" + fragment.toString());
  });
})();
