using System.Management.Automation;
using System.Net.Http;
using QuantPS.Gguf;

namespace QuantPS.PowerShell;

/// <summary>
/// Test-Gguf: every problem the engine's checks find in a GGUF file, one GgufFinding each (with
/// the file's Path), or with -Quiet one Boolean per file: True when llama.cpp would load it.
/// Malformed content is a finding, never an error; errors are for inputs that name no file.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "Gguf", DefaultParameterSetName = PathSet)]
[OutputType(typeof(GgufFinding), typeof(bool))]
public sealed class TestGgufCommand : GgufCmdletBase
{
    public const string PathProperty = "Path";

    /// <summary>Return True or False per file instead of the findings (like Test-Path).</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void OnNoMatch(string pattern)
    {
        if (Quiet)
        {
            WriteObject(false); // as Test-Path answers for a wildcard matching nothing
            return;
        }

        base.OnNoMatch(pattern);
    }

    protected override void ProcessFile(string path)
    {
        WriteVerbose($"Checking {path}");
        Emit(GgufValidator.Validate(path), path);
    }

    protected override void ProcessUri(Uri uri)
    {
        var target = GgufErrors.Describe(uri);
        WriteVerbose($"Checking the header of {target}");
        IReadOnlyList<GgufFinding> findings;
        try
        {
            findings = GgufValidator.Validate(uri, RemoteOptions, StopToken);
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            return;
        }
        catch (ArgumentException e)
        {
            WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument, $"{target}: {e.Message}", target, e));
            return;
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            WriteError(GgufErrors.FromUnexpected(e, target));
            return;
        }

        Emit(findings, target);
    }

    private void Emit(IReadOnlyList<GgufFinding> findings, string path)
    {
        if (Quiet)
        {
            WriteObject(!findings.Any(f => f.Severity >= GgufSeverity.Incompatible));
            return;
        }

        foreach (var finding in findings)
        {
            var wrapped = PSObject.AsPSObject(finding);
            wrapped.Properties.Add(new PSNoteProperty(PathProperty, path));
            WriteObject(wrapped);
        }
    }
}
