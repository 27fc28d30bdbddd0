/**
 * The page around a webview bundle: strict CSP with a nonce, resources only from media/ and
 * dist/webview/, nothing remote. (webview-sample / webview-view-sample of vscode-extension-samples.)
 */
import * as crypto from 'crypto';
import * as vscode from 'vscode';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media'), vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
  };
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, o: { title: string; script: string; style: string }): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const uri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri('media', o.style)}">
<title>${o.title}</title>
</head>
<body>
<div id="root"></div>
<script nonce="${nonce}" src="${uri('dist', 'webview', o.script)}"></script>
</body>
</html>`;
}
