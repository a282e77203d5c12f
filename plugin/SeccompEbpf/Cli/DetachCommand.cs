using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf detach</c>: remove every pinned program, link and map (uninstall). Containers lose their policy.</summary>
internal static class DetachCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var pinRoot = new EngineOptions().PinRoot;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--pin-root" && i + 1 < args.Length)
                pinRoot = args[++i];
            else
            {
                stderr.WriteLine($"seccomp-ebpf detach: unexpected argument '{args[i]}'\nusage: seccomp-ebpf detach [--pin-root DIR]");
                return 2;
            }
        }
        if (!Directory.Exists(pinRoot))
        {
            stdout.WriteLine($"nothing pinned at {pinRoot}");
            return 0;
        }
        try
        {
            using var engine = EnforcementEngine.Open(new EngineOptions { PinRoot = pinRoot, DetachOnExit = true }, NullLoggerFactory.Instance);
            stdout.WriteLine($"detaching {engine.Bindings.Count} bindings and the programs pinned at {pinRoot}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"seccomp-ebpf detach: {e.Message}");
            return 1;
        }
        return 0;
    }
}
