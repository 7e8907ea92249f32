// Issue 13: the session choices follow the chosen board (the coordinator's list holds every board's sessions).
(function () {
  "use strict";
  var board = document.getElementById("board");
  var session = document.getElementById("session");
  if (!board || !session) { return; }
  function follow(reset) {
    Array.prototype.forEach.call(session.options, function (o) {
      if (o.dataset.board) { o.hidden = o.dataset.board !== board.value; }
    });
    if (reset || (session.selectedOptions[0] && session.selectedOptions[0].hidden)) { session.value = "0"; }
  }
  board.addEventListener("change", function () { follow(true); });
  follow(false);
}());
