using SeccompEbpf.Cli;

namespace SeccompEbpf;

internal static class Program
{
    private const string Usage = """
        usage: seccomp-ebpf <command> [options]

        commands:
          run [--nri-socket PATH] [--config FILE] [--log-format text|json]
                                  run the daemon (the NRI plugin); containerd-launched when NRI_PLUGIN_SOCKET is set
          profile validate FILE...                 check seccomp profiles
          profile explain FILE --syscall NAME ...  which action a syscall gets, and which rule decides
          profile compile FILE [--json]            what the kernel side receives
          profile plan FILE|REF [--mode enforce|audit] [--json]
                                                   how exactly each syscall is enforced on this kernel
          profile diff A B [--json]                the syscalls and argument rules whose verdict differs
          ps [--json]                              managed containers, their profiles and how each action is enforced
          events [-f] [--pod NS/NAME] [--container NAME] [--json]
                                                   logged, denied and killed syscalls
          apply (--pod NS/NAME | --container ID) (--profile REF | --mode enforce|audit|off)
                                                   change a running container's policy until its pod goes away
          apply (--pod NS/NAME | --container ID) (--shadow REF | --no-shadow | --promote-shadow)
                                                   evaluate a candidate beside the policy in force, or enforce it
          record (--pod NS/NAME | --container ID) [--duration D] [--with-args [NAME:INDEX,...]] [--out FILE]
                                                   the syscalls a running container makes, as a seccomp profile
                                                   (--with-args: also a few arguments' values; bare: personality:0,clone:0)
          pod run NS/NAME --image REF [--annotation K=V]... -- COMMAND [ARG]...
          pod status|logs|rm NS/NAME               a one-container pod through containerd's CRI, to try
                                                   profiles without Kubernetes (scripts/try.sh)
          doctor [--json]                          what this kernel can enforce
          detach [--pin-root DIR]                  remove all pinned BPF state (uninstall; containers lose their policy)
          version                                  print the version
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            // containerd launches pre-installed plugins with no arguments at all.
            if (Environment.GetEnvironmentVariable("NRI_PLUGIN_SOCKET") is not null)
                return await RunCommand.RunAsync([]).ConfigureAwait(false);
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var rest = args[1..];
        switch (args[0])
        {
            case "run":
                return await RunCommand.RunAsync(rest).ConfigureAwait(false);
            case "profile":
                return ProfileCommand.Run(rest, Console.Out, Console.Error);
            case "doctor":
                return DoctorCommand.Run(rest, Console.Out, Console.Error);
            case "ps":
                return await ControlCommands.PsAsync(rest, Console.Out, Console.Error).ConfigureAwait(false);
            case "events":
                return await ControlCommands.EventsAsync(rest, Console.Out, Console.Error).ConfigureAwait(false);
            case "apply":
                return await ControlCommands.ApplyAsync(rest, Console.Out, Console.Error).ConfigureAwait(false);
            case "record":
                return await RecordCommand.RunAsync(rest, Console.Out, Console.Error).ConfigureAwait(false);
            case "pod":
                return await PodCommand.RunAsync(rest, Console.Out, Console.Error).ConfigureAwait(false);
            case "detach":
                return DetachCommand.Run(rest, Console.Out, Console.Error);
            case "version" or "--version":
                Console.WriteLine(typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
                return 0;
            case "help" or "--help" or "-h":
                Console.WriteLine(Usage);
                return 0;
            default:
                Console.Error.WriteLine($"seccomp-ebpf: unknown command '{args[0]}'");
                Console.Error.WriteLine(Usage);
                return 2;
        }
    }
}
