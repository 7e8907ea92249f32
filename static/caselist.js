// Drag and drop ordering of the case list; the ▲/▼ buttons work without JavaScript.
(function () {
  "use strict";
  var table = document.querySelector("table.caselist tbody");
  var input = document.getElementById("order");
  var save = document.getElementById("order-save");
  if (!table || !input || !save) { return; }
  var dragged = null;
  function renumber() {
    var rows = table.querySelectorAll("tr[data-case]");
    var ids = [];
    rows.forEach(function (row, i) { row.querySelector("td.num").textContent = String(i + 1); ids.push(row.dataset.case); });
    input.value = ids.join(",");
    save.hidden = false;
    dirty = true;
    var note = document.getElementById("order-unsaved");
    if (note) { note.hidden = false; }
  }
  // issue 13: an unsaved drag order is not lost without a warning
  var dirty = false;
  var form = document.getElementById("order-form");
  if (form) { form.addEventListener("submit", function () { dirty = false; }); }
  window.addEventListener("beforeunload", function (e) {
    if (!dirty) { return; }
    e.preventDefault();
    e.returnValue = form ? form.dataset.unsaved : "";
  });
  table.addEventListener("dragstart", function (e) {
    dragged = e.target.closest("tr[data-case]");
    if (!dragged) { return; }
    dragged.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.case);
  });
  table.addEventListener("dragover", function (e) {
    var over = e.target.closest("tr[data-case]");
    if (!dragged || !over || over === dragged) { return; }
    e.preventDefault();
    var box = over.getBoundingClientRect();
    var after = e.clientY > box.top + box.height / 2;
    table.insertBefore(dragged, after ? over.nextSibling : over);
  });
  table.addEventListener("drop", function (e) { e.preventDefault(); });
  table.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); dragged = null; renumber(); }
  });
}());
