using System.Collections.ObjectModel;
using System.Management.Automation;
using Microsoft.PowerShell.Commands;
using QuantPS.Gguf;

namespace QuantPS.PowerShell;

/// <summary>
/// What the GGUF-reading cmdlets share: -Path (wildcards), -LiteralPath (PSPath from
/// Get-ChildItem) and -Uri, resolved to file-system paths or URLs one at a time, with
/// non-terminating errors for inputs that cannot be used so the rest of a pipeline still runs.
/// </summary>
public abstract class GgufCmdletBase : PSCmdlet, IDisposable
{
    protected const string PathSet = "Path";
    protected const string LiteralPathSet = "LiteralPath";
    protected const string UriSet = "Uri";

    private readonly CancellationTokenSource _stopping = new();

    /// <summary>GGUF files; wildcards are expanded.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    /// <summary>GGUF files, taken exactly as written (for names with [ or *).</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>Remote GGUF files (http or https); only their headers are downloaded, with range requests.</summary>
    [Parameter(Mandatory = true, ParameterSetName = UriSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public Uri[] Uri { get; set; } = [];

    /// <summary>How remote headers are read: HttpClient (proxy, credentials), Timeout, MaxHeaderBytes. A hashtable converts.</summary>
    [Parameter(ParameterSetName = UriSet)]
    public GgufRemoteOptions? RemoteOptions { get; set; }

    /// <summary>Cancelled when the user presses Ctrl+C or a downstream Select-Object -First stops the pipeline.</summary>
    protected CancellationToken StopToken => _stopping.Token;

    protected abstract void ProcessFile(string path);

    protected abstract void ProcessUri(Uri uri);

    /// <summary>A wildcard that matched no file: an error by default (as Get-Item), overridable (Test-Gguf -Quiet).</summary>
    protected virtual void OnNoMatch(string pattern)
    {
        var hint = pattern.Contains('[', StringComparison.Ordinal)
            ? " [ and ] are wildcard characters in -Path: for a name that contains them, use -LiteralPath."
            : " Check the folder and the pattern (Get-ChildItem shows what is there).";
        WriteError(GgufErrors.Create(GgufErrorKind.FileNotFound, $"No file matches '{pattern}'.{hint}", pattern));
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == UriSet)
        {
            foreach (var uri in Uri)
            {
                if (uri is null || !uri.IsAbsoluteUri)
                {
                    var text = uri?.OriginalString ?? string.Empty;
                    WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument,
                        $"'{text}' is not an absolute URL. Give an http(s) address, or use -Path for a local file.", text));
                    continue;
                }

                ProcessUri(uri);
            }

            return;
        }

        var literal = ParameterSetName == LiteralPathSet;
        foreach (var input in literal ? LiteralPath : Path)
        {
            foreach (var file in literal || !WildcardPattern.ContainsWildcardCharacters(input) ? ResolveLiteral(input) : ResolveWildcard(input))
            {
                ProcessFile(file);
            }
        }
    }

    protected override void StopProcessing()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Stopped after the command finished: nothing left to cancel.
        }
    }

    public void Dispose()
    {
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// A literal path is handed to the engine even when it does not exist, so a missing file is
    /// reported once, as the engine's GgufFileNotFound.
    /// </summary>
    private IEnumerable<string> ResolveLiteral(string input)
    {
        string resolved;
        try
        {
            resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(input, out var provider, out _);
            if (!IsFileSystem(provider, input))
            {
                return [];
            }
        }
        catch (Exception e) when (e is SessionStateException or NotSupportedException or ArgumentException)
        {
            WritePathError(input, e);
            return [];
        }

        if (Directory.Exists(resolved))
        {
            WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument,
                $"{resolved} is a folder. Give a .gguf file, or pipe its files: Get-ChildItem '{input}' -Filter *.gguf | {MyInvocation.MyCommand.Name}", resolved));
            return [];
        }

        return [resolved];
    }

    /// <summary>Folders a wildcard happens to match are skipped: the user asked for models.</summary>
    private IEnumerable<string> ResolveWildcard(string pattern)
    {
        Collection<string> matches;
        try
        {
            matches = SessionState.Path.GetResolvedProviderPathFromPSPath(pattern, out var provider);
            if (!IsFileSystem(provider, pattern))
            {
                return [];
            }
        }
        catch (ItemNotFoundException)
        {
            matches = [];
        }
        catch (Exception e) when (e is SessionStateException or NotSupportedException or ArgumentException)
        {
            WritePathError(pattern, e);
            return [];
        }

        var files = new List<string>(matches.Count);
        foreach (var match in matches)
        {
            if (Directory.Exists(match))
            {
                WriteVerbose($"Skipping folder {match}.");
                continue;
            }

            files.Add(match);
        }

        if (files.Count == 0)
        {
            OnNoMatch(pattern);
        }

        return files;
    }

    private bool IsFileSystem(ProviderInfo provider, string input)
    {
        if (provider.ImplementingType == typeof(FileSystemProvider))
        {
            return true;
        }

        WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument,
            $"'{input}' is on the {provider.Name} provider; GGUF files must be file-system paths.", input));
        return false;
    }

    private void WritePathError(string input, Exception e)
    {
        var looksRemote = input.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
            || input.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        var hint = looksRemote ? " For a remote file use -Uri." : string.Empty;
        WriteError(GgufErrors.Create(GgufErrorKind.FileNotFound, $"Cannot find '{input}': {e.Message}{hint}", input, e));
    }
}
