using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// Runs one file of the Pester 5 suite (tests/pester) under real Pester (the NuGet package's module), in a runspace
/// of its own with pwsh's Utility and Management modules (<see cref="PlatformModules"/>), which Pester needs.
/// </summary>
internal static class PesterRunner
{
    /// <summary>The Pester module restore brought (see the test project's PesterManifest metadata).</summary>
    public static string PesterManifest { get; } = typeof(PesterRunner).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "PesterManifest").Value!;

    /// <summary>Invokes Pester on <paramref name="testFile"/> and summarizes its result.</summary>
    public static PesterSummary Run(string testFile)
    {
        var session = InitialSessionState.CreateDefault2();
        session.ImportPSModule(PlatformModules.Manifests);
        using var runspace = RunspaceFactory.CreateRunspace(session);
        runspace.Open();
        using var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = runspace;
        shell.AddScript(
            """
            param($PesterManifest, $TestFile)
            Import-Module $PesterManifest -ErrorAction Stop
            $configuration = New-PesterConfiguration
            $configuration.Run.Path = $TestFile
            $configuration.Run.PassThru = $true
            $configuration.Output.Verbosity = 'Detailed'
            $result = Invoke-Pester -Configuration $configuration
            $failures = @(
                $result.Failed | ForEach-Object { "$($_.ExpandedPath): $($_.ErrorRecord | ForEach-Object { $_.Exception.Message })" }
                $result.Containers | Where-Object Result -EQ 'Failed' | ForEach-Object { "$($_.Item): $($_.ErrorRecord | ForEach-Object { $_.Exception.Message })" }
            )
            @{
                Result = [string]$result.Result; Total = $result.TotalCount; Passed = $result.PassedCount; Failed = $result.FailedCount
                Skipped = $result.SkippedCount; NotRun = $result.NotRunCount; Failures = [string[]]$failures
            }
            """).AddParameter("PesterManifest", PesterManifest).AddParameter("TestFile", testFile);
        var output = shell.Invoke();
        var log = string.Join(Environment.NewLine, shell.Streams.Information.Select(record => record.MessageData?.ToString()));
        var errors = shell.Streams.Error.Select(error => error.ToString()).ToList();
        if (output.Count != 1 || output[0].BaseObject is not Hashtable table)
        {
            throw new InvalidOperationException($"Invoke-Pester gave no result for {testFile}: {string.Join("; ", errors)}{Environment.NewLine}{log}");
        }

        return new PesterSummary(
            (string)table["Result"]!, (int)table["Total"]!, (int)table["Passed"]!, (int)table["Failed"]!,
            (int)table["Skipped"]!, (int)table["NotRun"]!, (string[])table["Failures"]!, errors, log);
    }
}

/// <summary>What Invoke-Pester reported for one file, with its detailed output for failure messages.</summary>
internal sealed record PesterSummary(
    string Result, int Total, int Passed, int Failed, int Skipped, int NotRun,
    IReadOnlyList<string> Failures, IReadOnlyList<string> Errors, string Log);
