using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Control;
using SeccompEbpf.Daemon;
using SeccompEbpf.Kubernetes;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf run</c>: the daemon.</summary>
internal static class RunCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        string? socketOverride = null, configPath = null, logFormat = "text";
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--nri-socket" when i + 1 < args.Length:
                    socketOverride = args[++i];
                    break;
                case "--config" when i + 1 < args.Length:
                    configPath = args[++i];
                    break;
                case "--log-format" when i + 1 < args.Length && args[i + 1] is "text" or "json":
                    logFormat = args[++i];
                    break;
                default:
                    Console.Error.WriteLine($"seccomp-ebpf run: unexpected argument '{args[i]}' (see 'seccomp-ebpf --help')");
                    return 2;
            }
        }

        DaemonOptions options;
        try
        {
            options = LoadOptions(configPath);
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or FileNotFoundException or FormatException)
        {
            Console.Error.WriteLine($"seccomp-ebpf run: bad configuration: {e.Message}{(e.InnerException is { } inner ? ": " + inner.Message : "")}");
            return 2;
        }

        // Before anything touches the pins or the socket path: a second daemon must leave the first one's alone.
        string? pinRoot = options.Enforcement.PinRoot;
        try
        {
            EnforcementEngine.PreparePinRoot(pinRoot); // mounts bpffs if need be, as the engine would
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The engine will fail the same way and the daemon runs without enforcement: there are no pins to guard.
            Console.Error.WriteLine($"seccomp-ebpf run: pin root {pinRoot} unavailable, not locked: {e.Message}");
            pinRoot = null;
        }
        DaemonLock daemonLock;
        try
        {
            daemonLock = DaemonLock.Acquire(pinRoot, options.Control.SocketPath);
        }
        catch (Exception e) when (e is DaemonAlreadyRunningException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"seccomp-ebpf run: {e.Message}");
            return 1;
        }
        using var _ = daemonLock;

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { Args = args });
        builder.Services.AddSystemd();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        if (logFormat == "json")
            builder.Logging.AddJsonConsole(o => o.UseUtcTimestamp = true);
        else
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.UseUtcTimestamp = true; o.TimestampFormat = "HH:mm:ss.fff "; });

        var nriOptions = NriPluginOptions.FromEnvironment(socketOverride ?? options.Nri.SocketPath);
        if (nriOptions.InheritedSocketFd is null)
        {
            nriOptions.Name = options.Nri.PluginName;
            nriOptions.Index = options.Nri.PluginIndex;
        }
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(nriOptions);
        builder.Services.AddSingleton(options.Policy);
        builder.Services.AddSingleton<ContainerTable>();
        builder.Services.AddSingleton(sp => new ProfileStore(options.Policy, ContainerDefaults.CompileContext(), sp.GetRequiredService<ILogger<ProfileStore>>()));
        builder.Services.AddSingleton<EngineHost>();
        builder.Services.AddSingleton(sp =>
        {
            var engine = sp.GetRequiredService<EngineHost>();
            return new PolicyController(sp.GetRequiredService<ContainerTable>(), sp.GetRequiredService<ProfileStore>(), engine.Enforcement, engine.Failure,
                options.Policy, sp.GetRequiredService<ILogger<PolicyController>>());
        });
        builder.Services.AddSingleton<EventPump>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventPump>());
        builder.Services.AddSingleton<ControlApi>();
        builder.Services.AddHostedService(sp => new ControlServer(
            sp.GetRequiredService<ControlApi>(), options.Control.SocketPath, sp.GetRequiredService<ILogger<ControlServer>>()));
        builder.Services.AddSingleton<ExecGateKeeper>();
        builder.Services.AddSingleton(sp => new SeccompFloorReader([SeccompFloorReader.DefaultBundleRoot], sp.GetRequiredService<ILogger<SeccompFloorReader>>()));
        builder.Services.AddSingleton<NriLifecycleHandler>();
        builder.Services.AddKubernetesIntegration(); // Kubernetes/KubernetesServices.cs: before NRI starts
        builder.Services.AddSingleton(sp => new NriPlugin(
            NriHandlerTiming.Wrap(sp.GetRequiredService<NriLifecycleHandler>(), sp.GetRequiredService<NriHandlerLatency>(), sp.GetRequiredService<ILogger<NriPlugin>>()),
            nriOptions, sp.GetRequiredService<ILogger<NriPlugin>>()));
        builder.Services.AddHostedService<NriPluginService>();

        using var host = builder.Build();
        foreach (var hook in TestHooks.Active())
        {
            host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TestHooks).FullName!)
                .LogWarning("Test hook active: {Hook} (fault injection for the end-to-end tests; never set in production)", hook);
        }
        // Profiles are read and compiled now and when files change, off the NRI handlers' path: started first, so the
        // compilation runs beside the engine's BPF load rather than beside the first container event.
        var profiles = host.Services.GetRequiredService<ProfileStore>();
        var preloaded = profiles.Preload();
        var warmed = Task.Run(NriWarmup.Run);
        // Open the engine (and adopt pinned bindings) before NRI can deliver the first StartContainer.
        var engine = host.Services.GetRequiredService<EngineHost>().Engine;
        // Each preloaded profile is planned for the engine, so its first binding only writes maps (docs/performance.md).
        var planned = preloaded.ContinueWith(_ => PreparePlans(profiles, engine), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        ExecGateKeeper gate;
        try
        {
            gate = host.Services.GetRequiredService<ExecGateKeeper>();
        }
        catch (GateConfigurationException e)
        {
            Console.Error.WriteLine($"seccomp-ebpf run: {e.Message}");
            return 1;
        }
        host.Services.GetRequiredService<NriPlugin>().StateChanged += gate.OnConnectionState;
        await host.RunAsync().ConfigureAwait(false);
        return Environment.ExitCode;
    }

    /// <summary>Plans every loaded profile in both modes, as binding it would; a profile the engine refuses is refused again, with its reason, when a container uses it.</summary>
    private static void PreparePlans(ProfileStore profiles, EnforcementEngine? engine)
    {
        if (engine is null)
            return;
        foreach (var profile in profiles.Loaded)
        {
            try
            {
                engine.Prepare(profile.Compiled, EnforcementMode.Enforce);
                engine.Prepare(profile.Compiled, EnforcementMode.Audit);
            }
            catch (Exception e) when (e is not OutOfMemoryException and not ObjectDisposedException)
            {
                // Nothing is lost: binding plans on a cache miss and reports the failure on that container.
            }
        }
    }

    private static DaemonOptions LoadOptions(string? configPath)
    {
        var path = configPath ?? DaemonOptions.DefaultConfigPath;
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.GetFullPath(path), optional: configPath is null, reloadOnChange: false)
            .Build();
        DaemonOptions options;
        try
        {
            options = DaemonOptions.From(configuration);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"{path}: {e.Message}", e.InnerException); // the caller prints the binder's inner detail
        }
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new InvalidOperationException($"{path}: {string.Join("; ", problems)}");
        return options;
    }
}
