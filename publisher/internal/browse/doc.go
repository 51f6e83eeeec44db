// Package browse renders the HTML views of a publisher's feeds: an index of
// the feeds, a page of a feed's events and one event. It knows nothing of
// HTTP or stores: the publisher gathers what a view shows into a View and
// serves what Render writes, together with the static files in Static.
//
// Every value shown comes from event data that the publisher does not
// control. html/template escapes it for its context; text fields that are
// not valid UTF-8 have the invalid bytes replaced, and payloads are shown
// as text, never as markup. The pages run no inline script or style: the
// script and style sheet are files of their own, so that a
// Content-Security-Policy of 'self' (see CSP) forbids everything else.
package browse
