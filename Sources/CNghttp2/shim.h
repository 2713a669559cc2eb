#pragma once
// libnghttp2's HTTP/2 framing, HPACK and flow control, used by StatefunServer.
// Nothing but the library's own header: the callbacks are Swift functions.
#include <nghttp2/nghttp2.h>
