// The development IdP's HTTP-POST binding: post the signed response on to the ACS, as an IdP's
// page does (a file, not an inline handler: the content security policy allows no inline script).
document.forms[0].submit();
