using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>The LSM hook table against this kernel's own BTF (/sys/kernel/btf/vmlinux), as the prober checks it.</summary>
public sealed class VmlinuxBtfTests
{
    [Fact]
    public void TheRunningKernelsBtfHasEveryHookOfTheTableAndNoInventedOne()
    {
        var functions = VmlinuxBtf.FunctionNames(File.ReadAllBytes(VmlinuxBtf.DefaultPath));
        Assert.NotNull(functions);
        Assert.Contains("bpf_lsm_file_open", functions);
        Assert.Contains("security_file_open", functions);

        var missing = VmlinuxBtf.MissingLsmHooks([.. LsmHookTable.Hooks, "no_such_hook_anywhere"]);
        Assert.NotNull(missing);
        // every hook of the table exists on the kernels this project supports (the host's and the guests')
        Assert.Equal(["no_such_hook_anywhere"], missing.Order());

        // the fmod_ret fallback attaches to each hook's security_* function: every one exists too (settime's is
        // security_settime64; checked also against the BTF of the Debian 6.1 and 6.12 guest kernels)
        var missingFunctions = VmlinuxBtf.MissingLsmHooks([.. LsmHookTable.Hooks, "no_such_hook_anywhere"], fmodRet: true);
        Assert.NotNull(missingFunctions);
        Assert.Equal(["no_such_hook_anywhere"], missingFunctions.Order());
        Assert.DoesNotContain("security_settime", functions);
        Assert.Contains(LsmHookTable.SecurityFunction("settime"), functions);
    }

    [Fact]
    public void NotBtfIsUnknownRatherThanEverythingMissing()
    {
        Assert.Null(VmlinuxBtf.FunctionNames(new byte[64]));
        string path = Path.Combine(Path.GetTempPath(), $"not-btf-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        try
        {
            Assert.Null(VmlinuxBtf.MissingLsmHooks(["file_open"], path)); // its type section runs past the end
            Assert.Null(VmlinuxBtf.MissingLsmHooks(["file_open"], path + ".absent"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
