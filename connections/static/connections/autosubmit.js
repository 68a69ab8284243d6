// The HTTP-POST binding: post the form to the identity provider as soon as the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("saml-post");
  if (form) { form.submit(); }
});
