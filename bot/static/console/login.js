/* The sign-in page's error line (login.html), read from ?error= and ?minutes=. A file of its
 * own, so the page's Content-Security-Policy needs no inline script. */
(function () {
  var query = new URLSearchParams(window.location.search);
  var error = query.get('error');
  if (error !== '1' && error !== 'wait' && error !== 'busy') return;
  var box = document.getElementById('login-error');
  var minutes = parseInt(query.get('minutes'), 10) || 15;
  box.textContent = error === 'wait'
    ? 'Too many wrong passwords for this username or from this network. For your security, ' +
      'please try again in ' + minutes + (minutes === 1 ? ' minute.' : ' minutes.')
    : error === 'busy'
      ? 'Many sign-ins are being checked right now. Please try again in a moment.'
      : 'Wrong username or password.';
  box.hidden = false;
  var fields = [document.getElementById('username'), document.getElementById('password')];
  fields.forEach(function (field) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', 'login-error');
  });
})();
