/*
 * A test-only stand-in for Windows' bcryptprimitives.dll, for running this
 * crate's Windows binaries under Wine 8 (scripts/platforms.sh builds it with
 * mingw and puts it in the Wine prefix's system32).
 *
 * Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll
 * for its random numbers (HashMap keys); Wine 8 has no such DLL, so every
 * Rust program fails to load there (status c0000135). ProcessPrng fills a
 * buffer with random bytes and, as documented, always succeeds; advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine has, does the same job with
 * a ULONG length, so this forwards to it in chunks. Never shipped: Windows
 * itself has the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
