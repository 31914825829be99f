// Ask before a transition button on an admin page runs its action: the
// move is recorded at once and cannot be taken back from the same page.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.classList || !form.classList.contains("transition-buttons")) {
    return;
  }
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
