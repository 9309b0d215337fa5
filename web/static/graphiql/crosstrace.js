// GraphiQL at /graphql, started from this file rather than an inline script, so the page's CSP is 'self' only.
// Adapted from strawberry-graphql's graphiql.html (MIT); every script it needs is served from /static/graphiql.
(function () {
  "use strict";

  var WELCOME = [
    "# crosstrace GraphQL. Every field needs an API key: open Headers below and add",
    '#   {"Authorization": "Bearer ct_…"}',
    "# (`crosstrace keys create --name me --role viewer` prints one). Run with Ctrl-Enter.",
    "",
    "{ exceptions(first: 5, filter: {status: [\"open\"]}) { totalCount nodes { type message } } }",
    "",
  ].join("\n");

  // ?q=…&variables=… make a link to an operation shareable (?query= would be run as a GraphQL GET request).
  var parameters = {};
  new URLSearchParams(window.location.search).forEach(function (value, key) { parameters[key] = value; });

  function updateURL(data) {
    Object.assign(parameters, data);
    var search = new URLSearchParams();
    Object.keys(parameters).forEach(function (key) { if (parameters[key]) search.set(key, parameters[key]); });
    history.replaceState(null, "", "?" + search.toString());
  }

  var url = window.location.href.split("?")[0];
  var socket = new URL(url);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";  // graphql-transport-ws on the same path
  socket.hash = "";
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: socket.toString() });

  function CrosstraceGraphiQL() {
    var query = React.useState(parameters.q || WELCOME);
    var variables = React.useState(parameters.variables);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      query: query[0],
      variables: variables[0],
      onEditQuery: function (value) { query[1](value); updateURL({ q: value }); },
      onEditVariables: function (value) { variables[1](value); updateURL({ variables: value }); },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      // An API key typed into Headers is not written to localStorage, where it would outlive the tab.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(CrosstraceGraphiQL));
})();
