#include "sync-service/status.h"

namespace mpexec::sync {

const char* statusName(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::NotFound:
      return "not_found";
    case Status::Conflict:
      return "conflict";
    case Status::Timeout:
      return "timeout";
    case Status::TooMany:
      return "too_many";
    case Status::Ended:
      return "ended";
    case Status::Stopping:
      return "stopping";
    case Status::Busy:
      return "busy";
  }
  return "unknown";
}

int httpStatus(Status s) {
  switch (s) {
    case Status::Ok:
      return 200;
    case Status::NotFound:
      return 404;
    case Status::Conflict:
      return 409;
    case Status::Timeout:
      return 408;
    case Status::TooMany:
      return 429;
    case Status::Ended:
      return 401;
    case Status::Stopping:
    case Status::Busy:
      return 503;
  }
  return 500;
}

}  // namespace mpexec::sync
