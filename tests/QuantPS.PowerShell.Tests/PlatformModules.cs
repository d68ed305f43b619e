using Microsoft.PowerShell.Commands;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// pwsh's Microsoft.PowerShell.Utility and .Management modules (Select-Object, Format-List, Join-Path...), built from
/// the cmdlet assemblies NuGet restores, for runspaces that need more than the Core commands. pwsh loads them from
/// manifests under $PSHOME; the NuGet packages carry only the assemblies, so this writes the two manifests (named as
/// pwsh names the modules, since Pester looks its commands up by module name) once per process.
/// </summary>
internal static class PlatformModules
{
    private static readonly Lazy<string[]> Written = new(Write);

    /// <summary>The two manifests, for InitialSessionState.ImportPSModule.</summary>
    public static string[] Manifests => Written.Value;

    private static string[] Write()
    {
        var folder = Directory.CreateTempSubdirectory("quantps-psmodules-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(folder, recursive: true);
        return
        [
            Manifest(folder, "Microsoft.PowerShell.Utility", typeof(SelectObjectCommand).Assembly.Location),
            Manifest(folder, "Microsoft.PowerShell.Management", typeof(JoinPathCommand).Assembly.Location),
        ];
    }

    private static string Manifest(string folder, string name, string assembly)
    {
        var moduleFolder = Directory.CreateDirectory(Path.Combine(folder, name)).FullName;
        var path = Path.Combine(moduleFolder, name + ".psd1");
        File.WriteAllText(path,
            $"@{{ ModuleVersion = '7.6.9'; GUID = '{Guid.NewGuid()}'; RootModule = '{assembly.Replace("'", "''")}'; " +
            "CmdletsToExport = '*'; AliasesToExport = '*' }");
        return path;
    }
}
