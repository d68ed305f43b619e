using System.Management.Automation;
using System.Net.Http;
using QuantPS.Gguf;

namespace QuantPS.PowerShell;

/// <summary>
/// Get-GgufInfo: what a GGUF model is (one GgufModelInfo per model), or with -Tensor / -Metadata
/// its tensor table or metadata, one object per row, ready for Where-Object and Group-Object.
/// </summary>
[Cmdlet(VerbsCommon.Get, "GgufInfo", DefaultParameterSetName = PathSet)]
[OutputType(typeof(GgufModelInfo), typeof(GgufTensorInfo), typeof(GgufMetadataEntry))]
public sealed class GetGgufInfoCommand : GgufCmdletBase
{
    /// <summary>Lets rows from many files be told apart and grouped.</summary>
    public const string ModelPathProperty = "ModelPath";

    // Every shard of a split model opens the whole model: report it once per invocation.
    private readonly HashSet<string> _splitModelsSeen = new(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    /// <summary>Emit one GgufTensorInfo per tensor instead of the model summary.</summary>
    [Parameter]
    public SwitchParameter Tensor { get; set; }

    /// <summary>Emit one GgufMetadataEntry per metadata key instead of the model summary.</summary>
    [Parameter]
    public SwitchParameter Metadata { get; set; }

    protected override void BeginProcessing()
    {
        if (Tensor && Metadata)
        {
            ThrowTerminatingError(GgufErrors.Create(GgufErrorKind.InvalidArgument,
                "Use -Tensor or -Metadata, not both: each gives its own kind of object. Run the command once for each.", "Tensor, Metadata"));
        }
    }

    protected override void ProcessFile(string path)
    {
        WriteVerbose($"Reading {path}");
        GgufModel? model = null;
        try
        {
            model = GgufModel.Open(path);
            Emit(model);
        }
        catch (GgufException e)
        {
            WriteError(GgufErrors.From(e, path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(GgufErrors.FromUnexpected(e, path));
        }
        finally
        {
            model?.Dispose();
        }
    }

    protected override void ProcessUri(Uri uri)
    {
        var target = GgufErrors.Describe(uri);
        WriteVerbose($"Reading the header of {target}");
        GgufModel? model = null;
        try
        {
            model = GgufModel.OpenRemote(uri, RemoteOptions, StopToken);
            Emit(model);
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            // The pipeline is stopping; PowerShell reports that itself.
        }
        catch (GgufException e)
        {
            WriteError(GgufErrors.From(e, target));
        }
        catch (ArgumentException e)
        {
            WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument, $"{target}: {e.Message}", target, e));
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            WriteError(GgufErrors.FromUnexpected(e, target));
        }
        finally
        {
            model?.Dispose();
        }
    }

    private void Emit(GgufModel model)
    {
        if (model.IsSplit && !_splitModelsSeen.Add(model.Location))
        {
            WriteVerbose($"{model.Location} was already read: it is one split model with {model.Shards.Count} shards.");
            return;
        }

        if (Tensor)
        {
            foreach (var tensor in model.Tensors)
            {
                WriteObject(WithModelPath(tensor, model.Location));
            }
        }
        else if (Metadata)
        {
            foreach (var entry in model.Metadata)
            {
                WriteObject(WithModelPath(entry, model.Location));
            }
        }
        else
        {
            WriteObject(GgufModelInfo.From(model));
        }
    }

    private static PSObject WithModelPath(object row, string modelPath)
    {
        var wrapped = PSObject.AsPSObject(row);
        wrapped.Properties.Add(new PSNoteProperty(ModelPathProperty, modelPath));
        return wrapped;
    }
}
