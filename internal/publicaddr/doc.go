// Package publicaddr binds the installation's listeners where clients reach
// them: a listener accepts on 127.0.0.1 (local nodes and the default) and on
// the public address (`cobalt up --public-address`) at one port, and URLs
// name the public address.
//
// A public address is an IP address or a DNS name. An IP is bound as given
// (besides 127.0.0.1); a DNS name is bound on every interface, since the
// name's addresses are the machine's to choose (and resolving it here could
// send a query off the machine). The default, 127.0.0.1, binds loopback only.
package publicaddr
