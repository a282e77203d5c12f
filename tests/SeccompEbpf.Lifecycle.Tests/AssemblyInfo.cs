// The daemon is Linux-only (plugin/SeccompEbpf/AssemblyInfo.cs); so are the tests that drive its lifecycle logic.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
