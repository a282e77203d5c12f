/* Does this kernel run i386 binaries? Built -m32 -static; exits 0 when it runs at all. Machines of this kind
 * differ: some kernels lack IA32 emulation (or have it disabled), and exec fails with ENOEXEC. ./test.sh uses
 * the answer to decide where the compat (i386) cases run. */
int main(void)
{
    return 0;
}
