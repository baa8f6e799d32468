// Readers for /proc: CPU seconds, resident memory and storage write bytes of a process
// (0 = this process), and the allocated size of a directory tree. Values are 0 when /proc
// cannot be read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace tldb::peerbench {

double ProcessCpuSeconds(pid_t pid);                 // utime + stime
uint64_t ProcessRssBytes(pid_t pid);                 // VmRSS
uint64_t ProcessWriteBytes(pid_t pid);               // write_bytes of /proc/<pid>/io
uint64_t DirAllocatedBytes(const std::string& dir);  // sum of st_blocks * 512
std::string LoadAverage();                           // "0.45 1.35 1.68"
// Bytes written to the block device holding `path` since boot (/sys/dev/block/M:m/stat,
// sectors written x 512). Machine-wide: every process writing to that disk counts.
uint64_t DeviceWriteBytes(const std::string& path);

}  // namespace tldb::peerbench
