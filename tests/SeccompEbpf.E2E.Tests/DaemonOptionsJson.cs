using System.Text;
using Microsoft.Extensions.Configuration;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.E2E.Tests;

/// <summary>Binds a configuration file's JSON the way the daemon does (unknown keys are errors).</summary>
internal static class DaemonOptionsJson
{
    public static DaemonOptions Bind(string json) =>
        DaemonOptions.From(new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build());
}
