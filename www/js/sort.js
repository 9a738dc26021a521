// Click a column header of a `table.sortable` to sort its rows; click again to reverse.
// Cells sort by their `data-v` attribute when they have one (raw byte counts, seconds),
// else by their text. A header's `data-sort` says how: `num` by value, `text` in the reader's
// language with digit runs compared as numbers (`file 9` before `file 10`), `plain` by character
// codes (info hashes and peer ids, where `9f…` must come after `10…`).
// The pages work without this script: it only adds sorting.
"use strict";
(() => {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function value(row, index, numeric) {
    const cell = row.cells[index];
    if (cell === undefined) return numeric ? -Infinity : "";
    const raw = cell.dataset.v ?? cell.textContent.trim();
    if (!numeric) return raw;
    const n = Number(raw.replace(/[^0-9.-]/g, ""));
    return Number.isFinite(n) ? n : -Infinity;
  }

  function sortBy(table, th, index, direction) {
    const numeric = th.dataset.sort === "num";
    const compare = th.dataset.sort === "plain"
      ? (x, y) => (x < y ? -1 : x > y ? 1 : 0)
      : collator.compare;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).filter((r) => !r.classList.contains("empty"));
    const sign = direction === "ascending" ? 1 : -1;
    rows.sort((a, b) => {
      const x = value(a, index, numeric);
      const y = value(b, index, numeric);
      if (!numeric && (x === "" || y === "")) return (x === "") - (y === ""); // blanks last
      return sign * (numeric ? x - y : compare(x, y));
    });
    for (const h of table.tHead.rows[0].cells) h.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", direction);
    body.append(...rows);
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((th, index) => {
      if (th.dataset.sort === undefined || th.dataset.sort === "none") return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.append(...th.childNodes);
      th.append(button);
      button.addEventListener("click", () => {
        const next = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        sortBy(table, th, index, next);
      });
      if (th.dataset.default === "asc") sortBy(table, th, index, "ascending");
    });
  }
})();
