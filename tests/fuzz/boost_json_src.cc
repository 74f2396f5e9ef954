// `make fuzz` compiles Boost.JSON's parser from source, so that libFuzzer sees its branches and learns
// the JSON grammar from them; the g++ builds link the library.
#ifdef MPEXEC_LIBFUZZER
#include <boost/json/src.hpp>
#endif
