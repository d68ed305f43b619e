using System.Management.Automation;
using Microsoft.PowerShell.Commands;
using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Inference.Generation;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.PowerShell;

/// <summary>
/// Open-LlmModel: loads a GGUF model for inference once, so a script can run Invoke-LocalLlm many times without
/// reloading it. Close it with Close-LlmModel (or Dispose()) to unmap the file.
/// </summary>
[Cmdlet(VerbsCommon.Open, "LlmModel", DefaultParameterSetName = PathSet)]
[OutputType(typeof(LlmModelHandle))]
public sealed class OpenLlmModelCommand : PSCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    /// <summary>The model file (any shard of a split model).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The model file taken exactly as written (Get-ChildItem output binds here by PSPath).</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string LiteralPath { get; set; } = string.Empty;

    protected override void ProcessRecord()
    {
        var input = ParameterSetName == LiteralPathSet ? LiteralPath : Path;
        if (LlmModelLoader.Resolve(this, input, ParameterSetName == LiteralPathSet) is { } path
            && LlmModelLoader.Load(this, path) is { } handle)
        {
            WriteObject(handle);
        }
    }
}

/// <summary>Close-LlmModel: unloads models opened by Open-LlmModel. Closing twice is harmless.</summary>
[Cmdlet(VerbsCommon.Close, "LlmModel")]
public sealed class CloseLlmModelCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public LlmModelHandle[] Model { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var handle in Model)
        {
            WriteVerbose($"Closing {handle}");
            handle.Dispose();
        }
    }
}

/// <summary>Path resolution and loading shared by Open-LlmModel and Invoke-LocalLlm, with the engine's ErrorIds.</summary>
internal static class LlmModelLoader
{
    public static string? Resolve(PSCmdlet cmdlet, string input, bool literal)
    {
        try
        {
            string path;
            ProviderInfo provider;
            if (literal || !WildcardPattern.ContainsWildcardCharacters(input))
            {
                path = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(input, out provider, out _);
            }
            else
            {
                var matches = cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath(input, out provider);
                if (matches.Count != 1)
                {
                    cmdlet.WriteError(GgufErrors.Create(matches.Count == 0 ? GgufErrorKind.FileNotFound : GgufErrorKind.InvalidArgument,
                        matches.Count == 0 ? $"No file matches '{input}'." : $"'{input}' matches {matches.Count} files; name one model.", input));
                    return null;
                }

                path = matches[0];
            }

            if (provider.ImplementingType != typeof(FileSystemProvider) || Directory.Exists(path))
            {
                cmdlet.WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument, $"'{input}' is not a GGUF file on the file system.", input));
                return null;
            }

            return path;
        }
        catch (Exception e) when (e is SessionStateException or NotSupportedException or ArgumentException)
        {
            cmdlet.WriteError(GgufErrors.Create(GgufErrorKind.FileNotFound, $"Cannot find '{input}': {e.Message}", input, e));
            return null;
        }
    }

    /// <summary>Loads a model, or writes the reason it cannot be and returns null.</summary>
    public static LlmModelHandle? Load(PSCmdlet cmdlet, string path)
    {
        cmdlet.WriteVerbose($"Loading {path}");
        try
        {
            var handle = LlmModelHandle.Open(path);
            cmdlet.WriteVerbose($"{handle.Name}: {handle.Architecture}, {handle.LayerCount} layers, {handle.EmbeddingLength} wide, {handle.VocabularySize} tokens");
            return handle;
        }
        catch (GgufException e)
        {
            cmdlet.WriteError(GgufErrors.From(e, path));
        }
        catch (LlmException e)
        {
            cmdlet.WriteError(LlmErrors.From(e, path));
        }
        catch (TokenizerException e)
        {
            cmdlet.WriteError(TokenizerErrors.From(e, path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            cmdlet.WriteError(GgufErrors.FromUnexpected(e, path));
        }

        return null;
    }
}
