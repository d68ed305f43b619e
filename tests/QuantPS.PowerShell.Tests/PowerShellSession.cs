using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// One runspace per test class with the built module (out/QuantPS) imported, as a user's
/// session would have it, plus a temporary folder for the files a class makes.
/// By default only Core commands exist in this runspace (scripts use them and .NET), so a cmdlet
/// cannot lean on Utility by accident; <c>withPlatformModules</c> adds pwsh's Utility and Management.
/// </summary>
public sealed class PowerShellSession : IDisposable
{
    private readonly Runspace _runspace;
    private readonly object _gate = new();

    public PowerShellSession()
        : this(withPlatformModules: false)
    {
    }

    /// <param name="withPlatformModules">Also import pwsh's Utility and Management modules (<see cref="PlatformModules"/>).</param>
    internal PowerShellSession(bool withPlatformModules)
    {
        ModuleFolder = Path.Combine(SharedData.RepoRoot, "out", "QuantPS");
        ManifestPath = Path.Combine(ModuleFolder, "QuantPS.psd1");
        if (!File.Exists(ManifestPath))
        {
            throw new InvalidOperationException($"{ManifestPath} is missing: build the solution first (dotnet build -c Release).");
        }

        TempFolder = Directory.CreateTempSubdirectory("quantps-pstests-").FullName;
        Host = new CapturingHost();
        var initial = InitialSessionState.CreateDefault2();
        if (withPlatformModules)
        {
            initial.ImportPSModule(PlatformModules.Manifests);
        }

        _runspace = RunspaceFactory.CreateRunspace(Host, initial);
        _runspace.Open();
        var import = Run("Import-Module -Name $Manifest -ErrorAction Stop -PassThru", ("Manifest", ManifestPath));
        if (import.Errors.Count > 0 || import.Output.Count != 1)
        {
            throw new InvalidOperationException("Import-Module QuantPS failed: " + string.Join("; ", import.Errors));
        }

        Module = (PSModuleInfo)import.Output[0].BaseObject;
    }

    public string ModuleFolder { get; }

    public string ManifestPath { get; }

    public PSModuleInfo Module { get; }

    /// <summary>Collects what Out-Default renders (the module's default views).</summary>
    public CapturingHost Host { get; }

    /// <summary>Deleted with the session.</summary>
    public string TempFolder { get; }

    /// <summary>Runs a script in the session's global scope after setting the given variables.</summary>
    public ScriptResult Run(string script, params (string Name, object? Value)[] variables)
    {
        lock (_gate)
        {
            using var shell = System.Management.Automation.PowerShell.Create();
            shell.Runspace = _runspace;
            foreach (var (name, value) in variables)
            {
                _runspace.SessionStateProxy.SetVariable(name, value);
            }

            shell.AddScript(script);
            var output = shell.Invoke();
            return new ScriptResult(output, shell.Streams.Error.ToList());
        }
    }

    /// <summary>Starts a script without waiting, for tests that stop it (Ctrl+C); the caller disposes it.</summary>
    public System.Management.Automation.PowerShell Start(string script, out IAsyncResult running)
    {
        var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script);
        running = shell.BeginInvoke();
        return shell;
    }

    /// <summary>Runs a script and returns what it rendered on the console (pipe into Out-Default to render).</summary>
    public string Render(string script, params (string Name, object? Value)[] variables)
    {
        lock (_gate)
        {
            Host.TakeOutput();
            var result = Run(script, variables);
            Assert.True(result.Errors.Count == 0, string.Join("; ", result.Errors));
            return Host.TakeOutput();
        }
    }

    public string TempPath(string fileName) => Path.Combine(TempFolder, fileName);

    /// <summary>A cmdlet's English help as Get-Help -Full gives it: synopsis, example count, parameter names.</summary>
    public HelpSummary Help(string command)
    {
        var result = Run(
            """
            [System.Globalization.CultureInfo]::CurrentUICulture = 'en-US'
            $help = Get-Help $Command -Full
            $help.Synopsis
            @($help.examples.example).Count
            @($help.parameters.parameter | ForEach-Object name) -join ','
            """,
            ("Command", command));
        Assert.Empty(result.Errors);
        return new HelpSummary((string)result.Output[0].BaseObject, (int)result.Output[1].BaseObject, ((string)result.Output[2].BaseObject).Split(','));
    }

    public void Dispose()
    {
        _runspace.Dispose();
        try
        {
            Directory.Delete(TempFolder, recursive: true);
        }
        catch (IOException)
        {
            // A file still mapped by a leaked handle would fail here: the tests that dispose check that.
        }
    }
}

/// <summary>The parts of a cmdlet's help the tests check.</summary>
public sealed record HelpSummary(string Synopsis, int ExampleCount, string[] Parameters);

/// <summary>What a script wrote: its output objects and its non-terminating errors.</summary>
public sealed record ScriptResult(Collection<PSObject> Output, IReadOnlyList<ErrorRecord> Errors)
{
    /// <summary>The output's base objects of type T, failing on anything else.</summary>
    public IReadOnlyList<T> Objects<T>() => Output.Select(o => Assert.IsType<T>(o.BaseObject)).ToList();

    public T Single<T>()
    {
        Assert.Empty(Errors);
        return Assert.IsType<T>(Assert.Single(Output).BaseObject);
    }

    /// <summary>A note property (ModelPath, Path) the cmdlet attached to an output object.</summary>
    public static object? Note(PSObject item, string name) => item.Properties[name]?.Value;
}
