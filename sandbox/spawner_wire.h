#pragma once
// The bytes between mpexec and its spawner (sandbox/spawner.h), for spawner.cc alone: frames on the stream
// socket (a header that carries the fds, then the bytes), and the first frame a spawner program gets.

#include <cstddef>
#include <string>
#include <vector>

namespace mpexec::sandbox {

class Context;

/// Sends one frame: `bytes`, with up to four fds.
bool sendRequest(int sock, const std::string& bytes, const std::vector<int>& fds);
/// False on EOF or a broken frame. Received fds are appended to `fds` (close-on-exec).
bool receiveRequest(int sock, std::string& bytes, std::vector<int>& fds);

/// A spawner program's first frame: how many network namespaces to keep ahead, and the Context.
std::string encodeStart(const Context& ctx, size_t netns_ahead);
/// False when the frame is malformed; `context` is then for decodeContext().
bool decodeStart(const std::string& bytes, size_t& netns_ahead, std::string& context);

}  // namespace mpexec::sandbox
