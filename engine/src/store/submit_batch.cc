#include "tldb/submit_batch.h"

#include "store/committer_waker.h"

namespace tldb {

SubmitBatch::SubmitBatch() {
  CommitterWaker::OpenBatch();
}

SubmitBatch::~SubmitBatch() {
  CommitterWaker::CloseBatch();
}

}  // namespace tldb
