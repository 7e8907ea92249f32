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
  }
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
