// Sorts a table by the column whose heading was clicked; a second click reverses the order.
// Cells sort by their data-v attribute when they have one, else by their text.
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headings = table.querySelectorAll("th");
  headings.forEach(function (th, column) {
    th.addEventListener("click", function () {
      var numeric = th.getAttribute("data-sort") === "num";
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      headings.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[column];
        var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
        return numeric ? parseFloat(v) : v;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
      var fragment = document.createDocumentFragment();
      rows.forEach(function (row) { fragment.appendChild(row); });
      body.appendChild(fragment);
    });
  });
});
// Tells a headless browser test that the script ran to its end.
document.body.setAttribute("data-script", "ran");
